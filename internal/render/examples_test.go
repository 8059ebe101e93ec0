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

// notBuilders are the YAML files in examples/ that are not builders files: the RBAC objects
// bkctl needs (tested against the cluster in package main).
var notBuilders = map[string]bool{"rbac.yaml": true}

// builderExamples returns the builders files in examples/: every YAML file but notBuilders,
// each of which must fail to load as one, so that a builders file is never skipped by mistake.
func builderExamples(t *testing.T) []string {
	t.Helper()
	paths, err := filepath.Glob("../../examples/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, p := range paths {
		if !notBuilders[filepath.Base(p)] {
			out = append(out, p)
		} else if _, err := spec.Load(p, nil); err == nil {
			t.Errorf("%s is a valid builders file, but the examples tests skip it", p)
		}
	}
	if len(out) < 5 {
		t.Fatalf("found %d builders examples, want at least 5", len(out))
	}
	return out
}
