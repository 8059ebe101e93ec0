package buildrun

import (
	"fmt"
	"maps"
	"net"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/containerd/platforms"
	units "github.com/docker/go-units"
	"github.com/moby/buildkit/exporter/containerimage/exptypes"
	"github.com/moby/buildkit/util/entitlements"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/tonistiigi/go-csvvalue"
)

// annotationType is TYPE[PLATFORM] in front of an --annotation key.
var annotationType = regexp.MustCompile(`^([a-z-]+)(?:\[([A-Za-z0-9_/-]+)\])?$`)

// ParseAnnotations parses --annotation values as buildx does: KEY=VALUE applies to every
// manifest, TYPES:KEY=VALUE to the comma-separated types (index, manifest, index-descriptor,
// manifest-descriptor), each optionally limited to a platform in brackets. The keys are
// BuildKit's exporter annotation keys.
func ParseAnnotations(values []string) (map[exptypes.AnnotationKey]string, error) {
	out := map[exptypes.AnnotationKey]string{}
	for _, in := range values {
		if in == "" {
			continue
		}
		k, v, ok := strings.Cut(in, "=")
		if !ok {
			return nil, fmt.Errorf("parse annotation %q: want KEY=VALUE", in)
		}
		types, key, ok := strings.Cut(k, ":")
		if !ok {
			out[exptypes.AnnotationKey{Key: types}] = v
			continue
		}
		for _, tp := range strings.Split(types, ",") {
			g := annotationType.FindStringSubmatch(tp)
			if g == nil {
				return nil, fmt.Errorf("parse annotation %q: invalid type %q (want TYPE or TYPE[PLATFORM])", in, tp)
			}
			switch g[1] {
			case exptypes.AnnotationIndex, exptypes.AnnotationIndexDescriptor,
				exptypes.AnnotationManifest, exptypes.AnnotationManifestDescriptor:
			default:
				return nil, fmt.Errorf("parse annotation %q: unknown type %q (index, manifest, index-descriptor, manifest-descriptor)", in, g[1])
			}
			var p *ocispecs.Platform
			if g[2] != "" {
				pp, err := platforms.Parse(g[2])
				if err != nil {
					return nil, fmt.Errorf("parse annotation %q: %w", in, err)
				}
				pp = platforms.Normalize(pp)
				p = &pp
			}
			out[exptypes.AnnotationKey{Type: g[1], Platform: p, Key: key}] = v
		}
	}
	return out, nil
}

// ParseAllow parses --allow entitlements with BuildKit's own parser (network.host,
// security.insecure, device[=…]).
func ParseAllow(values []string) ([]string, error) {
	var out []string
	for _, v := range values {
		for _, s := range strings.Split(v, ",") {
			e, _, err := entitlements.Parse(strings.TrimSpace(s))
			if err != nil {
				return nil, fmt.Errorf("--allow %q: %w", s, err)
			}
			out = append(out, string(e))
		}
	}
	return out, nil
}

// ParseNetwork checks a --network mode: default, host (which also asks for the network.host
// entitlement) or none, as buildx accepts on a kubernetes builder.
func ParseNetwork(mode string) error {
	switch mode {
	case "", "default", "host", "none":
		return nil
	}
	return fmt.Errorf("--network %q: not supported by BuildKit (want default, host or none)", mode)
}

// ParseExtraHosts turns --add-host values (HOST:IP or HOST=IP, IPs comma-separated, IPv6 in
// brackets or not) into the frontend's add-hosts attribute.
func ParseExtraHosts(values []string) (string, error) {
	var hosts []string
	for _, h := range values {
		host, ip, ok := strings.Cut(h, "=")
		if !ok {
			host, ip, ok = strings.Cut(h, ":")
		}
		if !ok || host == "" || ip == "" {
			return "", fmt.Errorf("--add-host %q: want HOST:IP", h)
		}
		if ip == "host-gateway" {
			return "", fmt.Errorf("--add-host %q: host-gateway is a docker daemon's address, which BuildKit pods have none of", h)
		}
		for _, v := range strings.Split(ip, ",") {
			if len(v) > 2 && v[0] == '[' && v[len(v)-1] == ']' {
				v = v[1 : len(v)-1]
			}
			if net.ParseIP(v) == nil {
				return "", fmt.Errorf("--add-host %q: %q is not an IP address", h, v)
			}
			hosts = append(hosts, host+"="+v)
		}
	}
	return strings.Join(hosts, ","), nil
}

// ParseUlimits parses --ulimit values (NAME=SOFT[:HARD]) with docker's go-units, the parser
// under docker's and buildx's ulimit options, into the frontend's ulimit attribute. As with
// their option, a name given twice keeps its last value and the limits are sorted by name. Both
// entries of a name would reach runc, which sets them in order and cannot raise the hard limit
// that the first one lowered ("error setting rlimit type 7: operation not permitted").
func ParseUlimits(values []string) (string, error) {
	byName := map[string]string{}
	for _, v := range values {
		u, err := units.ParseUlimit(v)
		if err != nil {
			return "", fmt.Errorf("--ulimit %q: %w", v, err)
		}
		byName[u.Name] = u.String()
	}
	out := make([]string, 0, len(byName))
	for _, name := range slices.Sorted(maps.Keys(byName)) {
		out = append(out, byName[name])
	}
	return strings.Join(out, ","), nil
}

// ParseShmSize parses --shm-size (e.g. 128m) in bytes, with docker's go-units as buildx does.
func ParseShmSize(v string) (int64, error) {
	if v == "" {
		return 0, nil
	}
	n, err := units.RAMInBytes(v)
	if err != nil {
		return 0, fmt.Errorf("--shm-size %q: %w", v, err)
	}
	return n, nil
}

// CallFunc is a request to evaluate the build another way than building it (--call, --check).
type CallFunc struct {
	// Name is the frontend's subrequest: lint (--check), outline, targets, ….
	Name string
	// Format is "json" for the raw result, else text.
	Format string
	// IgnoreStatus keeps the exit code 0 whatever the result's status.
	IgnoreStatus bool
}

// ParseCallFunc parses --call (NAME[,format=json][,ignorestatus=true]); "build" and "" are a
// normal build (nil), "check" is the lint subrequest, as in buildx.
func ParseCallFunc(s string) (*CallFunc, error) {
	if s == "" {
		return nil, nil
	}
	fields, err := csvvalue.Fields(s, nil)
	if err != nil {
		return nil, fmt.Errorf("--call %q: %w", s, err)
	}
	f := &CallFunc{}
	for _, field := range fields {
		k, v, ok := strings.Cut(field, "=")
		switch {
		case !ok:
			if f.Name != "" {
				return nil, fmt.Errorf("--call %q: more than one method", s)
			}
			f.Name = field
		case k == "format":
			f.Format = v
		case k == "ignorestatus":
			if f.IgnoreStatus, err = strconv.ParseBool(v); err != nil {
				return nil, fmt.Errorf("--call %q: ignorestatus: %w", s, err)
			}
		default:
			return nil, fmt.Errorf("--call %q: unknown field %q", s, field)
		}
	}
	if f.Name == "check" {
		f.Name = "lint"
	}
	if f.Name == "build" || f.Name == "" {
		return nil, nil
	}
	return f, nil
}
