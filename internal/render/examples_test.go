package render

import (
	"bytes"
	"path/filepath"
	"testing"

	"github.com/bkctl/bkctl/internal/spec"
)

// TestExamplesGolden validates and renders every builders file in examples/, as users will start
// from them.
func TestExamplesGolden(t *testing.T) {
	for _, p := range builderExamples(t) {
		t.Run(filepath.Base(p), func(t *testing.T) {
			res, err := spec.Load(p, nil)
			if err != nil {
				t.Fatalf("load: %v", err)
			}
			if len(res.Warnings) > 0 {
				t.Errorf("warnings in an example: %v", res.Warnings)
			}
			objs, err := Render(res.File)
			if err != nil {
				t.Fatalf("render: %v", err)
			}
			var buf bytes.Buffer
			if err := WriteYAML(&buf, objs); err != nil {
				t.Fatal(err)
			}
			checkGolden(t, filepath.Join(goldenDir, "example-"+filepath.Base(p)), buf.Bytes())
		})
	}
}

// builderExamples returns the builders files in examples/: every YAML file there is one (the
// RBAC objects bkctl needs are in deploy/).
func builderExamples(t *testing.T) []string {
	t.Helper()
	paths, err := filepath.Glob("../../examples/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) < 5 {
		t.Fatalf("found %d builders examples, want at least 5", len(paths))
	}
	return paths
}
