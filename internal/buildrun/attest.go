package buildrun

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/tonistiigi/go-csvvalue"
)

// NoDefaultAttestationsEnv names the variable that, set to true, turns off the provenance
// attestation that image outputs get by default, as in buildx.
const NoDefaultAttestationsEnv = "BUILDX_NO_DEFAULT_ATTESTATIONS"

// defaultProvenance is what buildx asks for when the build names no provenance: a minimal
// provenance, attached only to outputs that carry attestations inline (image outputs).
const defaultProvenance = "mode=min,inline-only=true"

// ParseAttests turns --attest values and the --provenance and --sbom shorthands into the
// dockerfile frontend's attest:TYPE attributes, with buildx's syntax and defaults: a shorthand
// of true/false enables or disables its type, any other value is its attributes; the first value
// of a type wins; a disabled type sends nothing. Without any provenance value, image outputs get
// mode=min provenance unless lookup(BUILDX_NO_DEFAULT_ATTESTATIONS) is true.
//
// buildx's own parser (util/buildflags) is not imported: that package links buildx's policy
// engine (Open Policy Agent), whose package init alone would take most of what `bkctl validate`
// may spend. The syntax here is the same: CSV fields, type= and disabled= as keys.
func ParseAttests(attests []string, provenance, sbom string, lookup func(string) (string, bool)) (map[string]string, error) {
	in := slices.Clone(attests)
	if provenance != "" {
		in = append(in, CanonicalAttest("provenance", provenance))
	}
	if sbom != "" {
		in = append(in, CanonicalAttest("sbom", sbom))
	}
	attrs := map[string]string{}
	seen := map[string]bool{}
	for _, s := range in {
		typ, disabled, kv, err := parseAttest(s)
		if err != nil {
			return nil, fmt.Errorf("parse attest %q: %w", s, err)
		}
		if seen[typ] {
			continue
		}
		seen[typ] = true
		if disabled {
			continue
		}
		fields := []string{"type=" + typ}
		for _, k := range slices.Sorted(maps.Keys(kv)) {
			fields = append(fields, k+"="+kv[k])
		}
		attrs["attest:"+typ] = csvJoin(fields)
	}
	if !seen["provenance"] {
		off := false
		if v, ok := lookup(NoDefaultAttestationsEnv); ok {
			b, err := strconv.ParseBool(v)
			if err != nil {
				return nil, fmt.Errorf("invalid %s=%q: %w", NoDefaultAttestationsEnv, v, err)
			}
			off = b
		}
		if !off {
			attrs["attest:provenance"] = defaultProvenance
		}
	}
	return attrs, nil
}

// CanonicalAttest turns a --provenance or --sbom shorthand into an --attest value, as buildx:
// true or false enable or disable the type, anything else is its attributes.
func CanonicalAttest(typ, v string) string {
	if b, err := strconv.ParseBool(v); err == nil {
		return fmt.Sprintf("type=%s,disabled=%t", typ, !b)
	}
	return "type=" + typ + "," + v
}

func parseAttest(s string) (typ string, disabled bool, attrs map[string]string, err error) {
	fields, err := csvvalue.Fields(s, nil)
	if err != nil {
		return "", false, nil, err
	}
	attrs = map[string]string{}
	for _, f := range fields {
		k, v, ok := strings.Cut(f, "=")
		if !ok {
			return "", false, nil, fmt.Errorf("invalid value %s", f)
		}
		switch strings.TrimSpace(strings.ToLower(k)) {
		case "type":
			typ = v
		case "disabled":
			if disabled, err = strconv.ParseBool(v); err != nil {
				return "", false, nil, fmt.Errorf("invalid value %s: %w", f, err)
			}
		default:
			attrs[k] = v
		}
	}
	if typ == "" {
		return "", false, nil, fmt.Errorf("attestation type not specified")
	}
	return typ, disabled, attrs, nil
}

// csvJoin joins fields as one CSV record, quoting those that need it.
func csvJoin(fields []string) string {
	out := make([]string, len(fields))
	for i, f := range fields {
		if strings.ContainsAny(f, ",\"\n") {
			f = `"` + strings.ReplaceAll(f, `"`, `""`) + `"`
		}
		out[i] = f
	}
	return strings.Join(out, ",")
}
