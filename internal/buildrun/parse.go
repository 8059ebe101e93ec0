package buildrun

import (
	"encoding/csv"
	"fmt"
	"strconv"
	"strings"

	"github.com/moby/buildkit/client"
)

// Output is one build output as `docker buildx build --output` gives it: an exporter type and
// its attributes; "dest" names the file or directory of the tar, oci and local exporters
// ("-" is Options.Stdout).
type Output struct {
	Type  string
	Attrs map[string]string
}

// TypeCacheOnly is the output type that exports nothing: the result stays in the build cache
// (and goes to --cache-to), as with buildx's type=cacheonly.
const TypeCacheOnly = "cacheonly"

// ErrNoLoad reports a request to load the result into a docker daemon, which bkctl has none of.
var ErrNoLoad = fmt.Errorf("bkctl has no docker daemon to load the image into (hint: push it with --push, or export it with --output type=oci,dest=image.tar)")

// ParseOutputs parses --output values the way buildx does (CSV key=value pairs; a bare path is
// type=local,dest=PATH; "-" is type=tar to stdout), and adds the image output that --push asks
// for when no output is given. type=registry becomes type=image,push=true; type=docker and
// --load return ErrNoLoad.
func ParseOutputs(values []string, push bool) ([]Output, error) {
	var outs []Output
	for _, v := range values {
		o, err := parseOutput(v)
		if err != nil {
			return nil, err
		}
		outs = append(outs, o)
	}
	if push {
		found := false
		for _, o := range outs {
			if o.Type == client.ExporterImage {
				o.Attrs["push"] = "true"
				found = true
			}
		}
		if !found {
			outs = append(outs, Output{Type: client.ExporterImage, Attrs: map[string]string{"push": "true"}})
		}
	}
	return outs, nil
}

func parseOutput(v string) (Output, error) {
	if v == "-" {
		return Output{Type: client.ExporterTar, Attrs: map[string]string{"dest": "-"}}, nil
	}
	if !strings.Contains(v, "=") {
		return Output{Type: client.ExporterLocal, Attrs: map[string]string{"dest": v}}, nil
	}
	attrs, err := parseCSV(v)
	if err != nil {
		return Output{}, fmt.Errorf("parse output %q: %w", v, err)
	}
	o := Output{Type: attrs["type"], Attrs: attrs}
	delete(attrs, "type")
	switch o.Type {
	case "":
		return o, fmt.Errorf("parse output %q: type is required (image, registry, oci, tar, local)", v)
	case "registry":
		o.Type = client.ExporterImage
		o.Attrs["push"] = "true"
	case client.ExporterDocker:
		return o, fmt.Errorf("output type=docker: %w", ErrNoLoad)
	case client.ExporterImage, client.ExporterOCI, client.ExporterTar, client.ExporterLocal, TypeCacheOnly:
	default:
		return o, fmt.Errorf("parse output %q: unknown type %q (image, registry, oci, tar, local, cacheonly)", v, o.Type)
	}
	if o.Type == client.ExporterLocal && o.Attrs["dest"] == "" {
		return o, fmt.Errorf("parse output %q: type=local needs dest=DIR", v)
	}
	return o, nil
}

// ParseCache parses --cache-from and --cache-to values: CSV key=value pairs with a type, or a
// bare reference for type=registry,ref=REF. Cache exports default to mode=min, as in buildx.
func ParseCache(values []string, export bool) ([]client.CacheOptionsEntry, error) {
	var entries []client.CacheOptionsEntry
	for _, v := range values {
		if !strings.Contains(v, "=") {
			v = "type=registry,ref=" + v
		}
		attrs, err := parseCSV(v)
		if err != nil {
			return nil, fmt.Errorf("parse cache %q: %w", v, err)
		}
		typ := attrs["type"]
		delete(attrs, "type")
		if typ == "" {
			return nil, fmt.Errorf("parse cache %q: type is required (registry, inline, local, …)", v)
		}
		if export && typ != "inline" && attrs["mode"] == "" {
			attrs["mode"] = "min"
		}
		entries = append(entries, client.CacheOptionsEntry{Type: typ, Attrs: attrs})
	}
	return entries, nil
}

// ParseKeyValues parses NAME=VALUE flags (--build-arg, --label, --build-context). A build arg
// without "=" takes its value from lookup (the environment), as in buildx.
func ParseKeyValues(values []string, lookup func(string) (string, bool)) (map[string]string, error) {
	m := map[string]string{}
	for _, v := range values {
		k, val, ok := strings.Cut(v, "=")
		if k == "" {
			return nil, fmt.Errorf("parse %q: want NAME=VALUE", v)
		}
		if !ok {
			if lookup == nil {
				return nil, fmt.Errorf("parse %q: want NAME=VALUE", v)
			}
			if val, ok = lookup(k); !ok {
				continue
			}
		}
		m[k] = val
	}
	return m, nil
}

func parseCSV(v string) (map[string]string, error) {
	r := csv.NewReader(strings.NewReader(v))
	r.LazyQuotes = true
	fields, err := r.Read()
	if err != nil {
		return nil, err
	}
	attrs := map[string]string{}
	for _, f := range fields {
		k, val, ok := strings.Cut(f, "=")
		if !ok {
			return nil, fmt.Errorf("%q is not key=value", f)
		}
		attrs[strings.ToLower(strings.TrimSpace(k))] = val
	}
	return attrs, nil
}

func boolAttr(attrs map[string]string, key string) bool {
	b, _ := strconv.ParseBool(attrs[key])
	return b
}
