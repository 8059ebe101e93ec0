package spec

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/bkctl/bkctl/schema"
)

// definition returns a definition of the embedded schema.
func definition(t *testing.T, name string) map[string]any {
	t.Helper()
	var doc struct {
		Definitions map[string]map[string]any `json:"definitions"`
	}
	if err := json.Unmarshal(schema.JSON, &doc); err != nil {
		t.Fatal(err)
	}
	d, ok := doc.Definitions[name]
	if !ok {
		t.Fatalf("schema has no definition %q", name)
	}
	return d
}

func pattern(t *testing.T, def string) *regexp.Regexp {
	t.Helper()
	p, _ := definition(t, def)["pattern"].(string)
	return regexp.MustCompile(p)
}

// TestSchemaPatternsAgreeWithRules: an editor flags exactly what bkctl refuses. The platform
// pattern is spelled from the same lists as checkPlatform; the others are compared value by
// value with the rules (the pattern may accept what only a rule can refuse, as noted).
func TestSchemaPatternsAgreeWithRules(t *testing.T) {
	wantPlatform := fmt.Sprintf("^(%s)/(%s)(/[a-z0-9]+)?$", strings.Join(knownOS, "|"), strings.Join(knownArch, "|"))
	if got := pattern(t, "platform").String(); got != wantPlatform {
		t.Errorf("platform pattern\n got %s\nwant %s (from knownOS and knownArch)", got, wantPlatform)
	}
	platforms := []string{"linux/amd64", "linux/arm64", "linux/arm/v7", "linux/arm64/v8", "windows/amd64", "linux/amd46",
		"Linux/amd64", "linux/AMD64", "linux", "linux/", "/amd64", "linux/amd64/", "linux/amd64/v8/x", "plan9/amd64", "linux/arm/V7"}
	agree(t, "platform", platforms, func(s string) bool { return checkPlatform(s) == "" })

	durations := []string{"120s", "2m", "1m30s", "1.5h", ".5s", "1.s", "300ms", "10us", "10µs", "10μs", "1h2m3s4ms5us6ns", "+5s",
		"0s", "0", "0.0s", "-5s", "5", "2 minutes", "5 s", "5S", "1d", "", "s", ".s", "1e3s", "0h0m1s"}
	agree(t, "duration", durations, func(s string) bool { _, err := parseDuration(s); return err == nil })

	quantities := []string{"500m", "2", "1Gi", "512Mi", "1.5", ".5", "1.", "10Ki", "1k", "1M", "1E", "1e3", "1E-3", "+1",
		"-1", "-1Gi", "100 m", "256MB", "1GiB", "1gi", "1K", "m", "", "1..5", "1Gi5"}
	agree(t, "quantity", quantities, func(s string) bool {
		q, err := parseQuantity(s)
		return err == nil && q.Sign() >= 0
	})

	names := []string{"kube", "kube-0", "0kube", "a", strings.Repeat("a", 63), strings.Repeat("a", 64), "Kube_1", "kube-", "-kube", "ku.be", ""}
	agree(t, "dnsLabel", names, func(s string) bool { return s != "" && (&checker{}).isDNSLabel(s) == "" })
}

// agree checks that the definition def's pattern and length bounds accept exactly the values
// ok accepts.
func agree(t *testing.T, def string, values []string, ok func(string) bool) {
	t.Helper()
	d := definition(t, def)
	re := pattern(t, def)
	for _, v := range values {
		schemaOK := re.MatchString(v)
		if max, has := d["maxLength"].(float64); has && len([]rune(v)) > int(max) {
			schemaOK = false
		}
		if min, has := d["minLength"].(float64); has && len([]rune(v)) < int(min) {
			schemaOK = false
		}
		if ruleOK := ok(v); schemaOK != ruleOK {
			t.Errorf("%s %q: schema accepts %v, rules accept %v", def, v, schemaOK, ruleOK)
		}
	}
}

// TestSchemaDefaults: the defaults an editor shows are the ones spec applies.
func TestSchemaDefaults(t *testing.T) {
	props := definition(t, "nodeFields")["properties"].(map[string]any)
	def := func(path ...string) any {
		var cur any = props
		for _, p := range path {
			cur = cur.(map[string]any)[p]
			if m, ok := cur.(map[string]any); ok && m["properties"] != nil && p != path[len(path)-1] {
				cur = m["properties"]
			}
		}
		return cur.(map[string]any)["default"]
	}
	for _, tt := range []struct {
		path []string
		want any
	}{
		{[]string{"replicas"}, float64(DefaultReplicas)},
		{[]string{"image"}, DefaultImage},
		{[]string{"loadbalance"}, LoadbalanceSticky},
		{[]string{"timeout"}, "120s"},
		{[]string{"qemu", "image"}, DefaultQemuImage},
		{[]string{"rootless"}, false},
		{[]string{"defaultLoad"}, false},
	} {
		if got := def(tt.path...); got != tt.want {
			t.Errorf("default of %s = %v, want %v", strings.Join(tt.path, "."), got, tt.want)
		}
	}
	if d, _ := parseDuration(def("timeout").(string)); d != DefaultTimeout {
		t.Errorf("timeout default %v, want %v", d, DefaultTimeout)
	}
}
