package render

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/bkctl/bkctl/internal/keys"
	"github.com/bkctl/bkctl/internal/spec"
)

// TestConfigHash checks that the pod template's config hash follows the buildkitd.toml and
// nothing else, so that exactly a config change rolls the pods, and that only the template
// carries it.
func TestConfigHash(t *testing.T) {
	render := func(config string, edit func(n *spec.Node)) map[string]map[string]string {
		t.Helper()
		objs, err := Render(testFile(func(f *spec.File, n *spec.Node) {
			n.Buildkitd.Config = config
			if edit != nil {
				edit(n)
			}
		}))
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]map[string]string{}
		for _, o := range objs {
			out[o.GetKind()+"/meta"] = o.GetAnnotations()
			if a, ok, _ := unstructured.NestedStringMap(o.Object, "spec", "template", "metadata", "annotations"); ok {
				out[o.GetKind()+"/template"] = a
			}
		}
		return out
	}
	hash := func(objs map[string]map[string]string) string {
		return objs["Deployment/template"][keys.AnnotationConfigHash]
	}

	a := render("debug = true\n", nil)
	b := render("debug = false\n", nil)
	again := render("debug = true\n", func(n *spec.Node) { n.Replicas = 3; n.Image = "example.com/buildkit:v1" })
	none := render("", nil)

	tests := map[string]struct{ got, want bool }{
		"a config has a hash":                         {hash(a) != "", true},
		"another config, another hash":                {hash(a) != hash(b), true},
		"same config, other fields: same hash":        {hash(a) == hash(again), true},
		"no config: no hash":                          {hash(none) == "", true},
		"the workload's own annotations have no hash": {a["Deployment/meta"][keys.AnnotationConfigHash] == "", true},
		"the ConfigMap has no hash":                   {a["ConfigMap/meta"][keys.AnnotationConfigHash] == "", true},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("got %v, want %v (hashes %q %q %q %q)", tt.got, tt.want, hash(a), hash(b), hash(again), hash(none))
			}
		})
	}
	if d := cmp.Diff(configHash("debug = true\n"), hash(a)); d != "" {
		t.Errorf("hash of the rendered config (-want +got):\n%s", d)
	}
}
