package schema_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"gopkg.in/yaml.v3"

	"github.com/bkctl/bkctl/schema"
)

// draft07 compiles the schema as a draft-07 validator does: checked against the draft-07
// meta-schema, keywords of later drafts unknown.
func draft07(t *testing.T) *jsonschema.Schema {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(schema.JSON))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft7)
	if err := c.AddResource(schema.URL, doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile(schema.URL)
	if err != nil {
		t.Fatalf("compile as draft-07: %v", err)
	}
	return s
}

// instance reads a YAML file as the JSON value an editor validates.
func instance(t *testing.T, path string) any {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var v any
	if err := yaml.Unmarshal(data, &v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return v
}

// TestExamplesPassDraft07: every example is valid for a draft-07 validator.
func TestExamplesPassDraft07(t *testing.T) {
	s := draft07(t)
	files, _ := filepath.Glob("../examples/*.yaml")
	if len(files) < 5 {
		t.Fatalf("found %d examples", len(files))
	}
	for _, f := range files {
		if err := s.Validate(instance(t, f)); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}

// TestBadInputsFailDraft07: what an editor must flag fails a draft-07 validator at the value
// that is wrong: the cases, and every case of the bad-input corpus whose class the
// schema decides (schema, type, unknown).
func TestBadInputsFailDraft07(t *testing.T) {
	s := draft07(t)
	for _, tt := range editorCases {
		t.Run(tt.name, func(t *testing.T) {
			var v any
			if err := yaml.Unmarshal([]byte(tt.src), &v); err != nil {
				t.Fatal(err)
			}
			err := s.Validate(v)
			if err == nil {
				t.Fatalf("valid for draft-07:\n%s", tt.src)
			}
			var at []string
			for _, leaf := range leaves(err.(*jsonschema.ValidationError)) {
				at = append(at, "/"+strings.Join(leaf.InstanceLocation, "/"))
			}
			if !slices.Contains(at, tt.at) {
				t.Errorf("errors at %v, want one at %s: %v", at, tt.at, err)
			}
		})
	}
	files, _ := filepath.Glob("../testdata/bad/*.yaml")
	n := 0
	for _, f := range files {
		class, _, _ := strings.Cut(filepath.Base(f), "-")
		// A podTemplate patch is checked against the Pod type when rendered, not by the schema.
		if class != "schema" && class != "type" && class != "unknown" || strings.Contains(f, "podtemplate") {
			continue
		}
		n++
		var v any
		if data, _ := os.ReadFile(f); yaml.Unmarshal(data, &v) != nil {
			continue // not YAML an editor could validate either
		}
		if err := s.Validate(v); err == nil {
			t.Errorf("%s is valid for draft-07; its class %q is the schema's to refuse", f, class)
		}
	}
	if n < 50 {
		t.Errorf("only %d schema, type and unknown cases in the corpus", n)
	}
}

const head = "apiVersion: bkctl/v1alpha1\nkind: Builders\nmetadata: {name: ci}\nbuilders:\n  - name: kube\n    nodes:\n"

// editorCases are values an editor must flag, and where.
var editorCases = []struct{ name, src, at string }{
	{"unknown arch", head + "      - platforms: [linux/amd46]\n", "/builders/0/nodes/0/platforms/0"},
	{"uppercase platform", head + "      - platforms: [Linux/amd64]\n", "/builders/0/nodes/0/platforms/0"},
	{"platform without arch", head + "      - platforms: [linux]\n", "/builders/0/nodes/0/platforms/0"},
	{"platforms as a string", head + "      - platforms: linux/amd64,linux/arm64\n", "/builders/0/nodes/0/platforms"},
	{"duplicate platform", head + "      - platforms: [linux/amd64, linux/amd64]\n", "/builders/0/nodes/0/platforms"},
	{"duration in words", head + "      - timeout: 2 minutes\n", "/builders/0/nodes/0/timeout"},
	{"duration without unit", head + "      - timeout: \"90\"\n", "/builders/0/nodes/0/timeout"},
	{"zero duration", head + "      - timeout: 0s\n", "/builders/0/nodes/0/timeout"},
	{"negative duration", head + "      - timeout: -1m\n", "/builders/0/nodes/0/timeout"},
	{"builder name", strings.Replace(head, "name: kube", "name: Kube_1", 1) + "      - {}\n", "/builders/0/name"},
	{"node name", head + "      - name: Kube_1\n", "/builders/0/nodes/0/name"},
	{"metadata name too long", strings.Replace(head, "name: ci", "name: "+strings.Repeat("a", 64), 1) + "      - {}\n", "/metadata/name"},
	{"quantity with a space", head + "      - resources: {requests: {cpu: 100 m}}\n", "/builders/0/nodes/0/resources/requests/cpu"},
	{"quantity in bytes", head + "      - resources: {limits: {memory: 256MB}}\n", "/builders/0/nodes/0/resources/limits/memory"},
	{"negative quantity", head + "      - storage: {memory: -1Gi}\n", "/builders/0/nodes/0/storage/memory"},
	{"replicas as a word", head + "      - replicas: two\n", "/builders/0/nodes/0/replicas"},
	{"apiVersion", strings.Replace(head, "bkctl/v1alpha1", "bkctl/v1", 1) + "      - {}\n", "/apiVersion"},
	{"node field on the builder", strings.Replace(head, "    nodes:\n", "    replicas: 2\n    nodes:\n", 1) + "      - {}\n", "/builders/0"},
	{"name in defaults", strings.Replace(head, "    nodes:\n", "    defaults: {name: x}\n    nodes:\n", 1) + "      - {}\n", "/builders/0/defaults/name"},
}

func leaves(e *jsonschema.ValidationError) []*jsonschema.ValidationError {
	if len(e.Causes) == 0 {
		return []*jsonschema.ValidationError{e}
	}
	var out []*jsonschema.ValidationError
	for _, c := range e.Causes {
		out = append(out, leaves(c)...)
	}
	return out
}

// laterKeywords are keywords of drafts after 07: a draft-07 editor ignores them silently.
var laterKeywords = []string{"$defs", "$anchor", "$dynamicRef", "$dynamicAnchor", "$recursiveRef", "prefixItems",
	"unevaluatedProperties", "unevaluatedItems", "dependentRequired", "dependentSchemas", "minContains", "maxContains"}

// TestSchemaForEditors checks what editors need from the schema: draft-07, no keyword a draft-07
// tool ignores, no $ref with siblings (draft-07 ignores them, so a description beside a $ref
// is lost), and a description on every property.
func TestSchemaForEditors(t *testing.T) {
	var doc map[string]any
	if err := json.Unmarshal(schema.JSON, &doc); err != nil {
		t.Fatal(err)
	}
	if doc["$schema"] != "http://json-schema.org/draft-07/schema#" {
		t.Errorf("$schema = %v, want draft-07", doc["$schema"])
	}
	props := 0
	var walk func(where string, v any)
	walk = func(where string, v any) {
		switch n := v.(type) {
		case map[string]any:
			if _, ok := n["$ref"]; ok && len(n) > 1 {
				t.Errorf("%s: $ref with siblings %v (draft-07 ignores them; wrap the $ref in allOf)", where, keys(n))
			}
			for _, k := range laterKeywords {
				if _, ok := n[k]; ok {
					t.Errorf("%s: %s is not draft-07", where, k)
				}
			}
			if ps, ok := n["properties"].(map[string]any); ok {
				for name, p := range ps {
					props++
					if pm, ok := p.(map[string]any); ok {
						if d, _ := pm["description"].(string); d == "" {
							t.Errorf("%s/properties/%s has no description", where, name)
						}
					}
				}
			}
			for k, c := range n {
				if k != "examples" && k != "default" && k != "enum" && k != "const" {
					walk(where+"/"+k, c)
				}
			}
		case []any:
			for i, c := range n {
				walk(where+"/"+strconv.Itoa(i), c)
			}
		}
	}
	walk("#", doc)
	if props < 59 {
		t.Errorf("found %d properties, want at least the 59 the file format has", props)
	}
}

func keys(m map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// BenchmarkCompile measures what the first validation in a process pays to compile the schema
// (spec compiles it once, lazily).
func BenchmarkCompile(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(schema.JSON))
		if err != nil {
			b.Fatal(err)
		}
		c := jsonschema.NewCompiler()
		c.DefaultDraft(jsonschema.Draft7)
		if err := c.AddResource(schema.URL, doc); err != nil {
			b.Fatal(err)
		}
		if _, err := c.Compile(schema.URL); err != nil {
			b.Fatal(err)
		}
	}
}
