package buildxstore

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/bkctl/bkctl/internal/golden"
	"github.com/bkctl/bkctl/internal/render"
	"github.com/bkctl/bkctl/internal/spec"
)

const (
	goldenDir = "../../testdata/buildx"
	// testKubeconfig is recorded in the golden endpoints.
	testKubeconfig = "/home/user/.kube/config"
)

var testNow = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// roundTripInputs are the builders files whose round trip is tested: every example, and a file
// that sets every field with a buildx equivalent.
func roundTripInputs(t *testing.T) map[string]string {
	t.Helper()
	paths, err := filepath.Glob("../../examples/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	in := map[string]string{"all-options": filepath.Join(goldenDir, "all-options.builders.yaml")}
	for _, p := range paths {
		in["example-"+strings.TrimSuffix(filepath.Base(p), ".yaml")] = p
	}
	if len(in) < 6 {
		t.Fatalf("found %d builders examples, want at least 5", len(in)-1)
	}
	return in
}

// TestRoundTrip writes each file's builders as buildx instances, imports them back, and checks
// that the import is valid, holds the same nodes, and renders the same objects, except for the
// fields buildx cannot hold (podTemplate, storageClassName, createNamespace).
func TestRoundTrip(t *testing.T) {
	for name, path := range roundTripInputs(t) {
		t.Run(name, func(t *testing.T) {
			res, err := spec.Load(path, nil)
			if err != nil {
				t.Fatalf("load: %v", err)
			}
			f := res.File
			dir := t.TempDir()
			opts := WriteOptions{Kubeconfig: testKubeconfig, Now: func() time.Time { return testNow }}
			written, err := WriteBuilders(context.Background(), dir, f, opts)
			if err != nil {
				t.Fatalf("WriteBuilders: %v", err)
			}
			var instances bytes.Buffer
			for _, w := range written {
				if w.Action != ActionCreated {
					t.Errorf("builder %s: action %s, want %s", w.Builder, w.Action, ActionCreated)
				}
				data, err := os.ReadFile(w.Path)
				if err != nil {
					t.Fatal(err)
				}
				instances.Write(data)
				instances.WriteByte('\n')
			}
			checkGolden(t, name+".instances.json", instances.Bytes())

			groups, err := Read(context.Background(), dir, "")
			if err != nil {
				t.Fatalf("Read: %v", err)
			}
			doc, warnings, err := Import(groups, ImportOptions{Name: f.Metadata.Name, Namespace: f.Metadata.Namespace})
			if err != nil {
				t.Fatalf("Import: %v", err)
			}
			if len(warnings) > 0 {
				t.Errorf("Import warnings: %q", warnings)
			}
			data, err := doc.YAML()
			if err != nil {
				t.Fatal(err)
			}
			checkGolden(t, name+".imported.yaml", data)

			back, err := spec.Parse("imported.yaml", data)
			if err != nil {
				t.Fatalf("imported file is invalid: %v", err)
			}
			want, got := withoutBuildxGaps(f), withoutBuildxGaps(back.File)
			if diff := cmp.Diff(builders(want), builders(got)); diff != "" {
				t.Errorf("nodes changed in the round trip (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(renderYAML(t, want), renderYAML(t, got)); diff != "" {
				t.Errorf("rendered objects changed in the round trip (-want +got):\n%s", diff)
			}
		})
	}
}

// withoutBuildxGaps returns f without the fields that have no buildx form, and with positions
// and file paths cleared, so that a round-tripped file compares equal.
func withoutBuildxGaps(f *spec.File) *spec.File {
	out := *f
	out.Path = ""
	out.Builders = slices.Clone(f.Builders)
	for i := range out.Builders {
		b := &out.Builders[i]
		b.Pos, b.CreateNamespace = spec.Pos{}, false
		b.Nodes = slices.Clone(b.Nodes)
		for j := range b.Nodes {
			n := &b.Nodes[j]
			n.Pos, n.PodTemplate, n.PodTemplateFields, n.Buildkitd.ConfigFile = spec.Pos{}, nil, nil, ""
			if pv := n.Storage.PersistentVolume; pv != nil {
				n.Storage.PersistentVolume = &spec.PersistentVolume{Size: pv.Size}
			}
		}
	}
	return &out
}

func builders(f *spec.File) []spec.Builder { return f.Builders }

func renderYAML(t *testing.T, f *spec.File) string {
	t.Helper()
	objs, err := render.Render(f)
	if err != nil {
		t.Fatalf("render: %v", err)
	}
	var buf bytes.Buffer
	if err := render.WriteYAML(&buf, objs); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

// TestFlagsAreRenderedArgs checks that the flags written for buildx are the args bkctl renders
// (without the rootless flag, which buildx appends itself), so that a buildx-created pod would
// run buildkitd exactly as a bkctl one.
func TestFlagsAreRenderedArgs(t *testing.T) {
	for name, path := range roundTripInputs(t) {
		t.Run(name, func(t *testing.T) {
			res, err := spec.Load(path, nil)
			if err != nil {
				t.Fatal(err)
			}
			objs, err := render.Render(res.File)
			if err != nil {
				t.Fatal(err)
			}
			for _, b := range res.File.Builders {
				ng, _, err := NodeGroupFor(b, "")
				if err != nil {
					t.Fatal(err)
				}
				for i, n := range ng.Nodes {
					args := renderedArgs(t, objs, b.Namespace, n.Name)
					if b.Nodes[i].Rootless {
						args = slices.DeleteFunc(args, func(a string) bool { return a == "--oci-worker-no-process-sandbox" })
					}
					if diff := cmp.Diff(args, n.BuildkitdFlags); diff != "" {
						t.Errorf("node %s: flags differ from the rendered args (-rendered +written):\n%s", n.Name, diff)
					}
				}
			}
		})
	}
}

func renderedArgs(t *testing.T, objs []*unstructured.Unstructured, namespace, name string) []string {
	t.Helper()
	for _, o := range objs {
		if o.GetNamespace() != namespace || o.GetName() != name || (o.GetKind() != "Deployment" && o.GetKind() != "StatefulSet") {
			continue
		}
		ctrs, _, _ := unstructured.NestedSlice(o.Object, "spec", "template", "spec", "containers")
		for _, c := range ctrs {
			m := c.(map[string]any)
			if m["name"] != "buildkitd" {
				continue
			}
			args, _, _ := unstructured.NestedStringSlice(m, "args")
			return args
		}
	}
	t.Fatalf("no buildkitd container for %s/%s", namespace, name)
	return nil
}

// TestImportBuildxCreated imports an instance written by buildx v0.38.2 itself
// (testdata/buildx/buildx-created.json, see README.md there) with every driver-opt set.
func TestImportBuildxCreated(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(goldenDir, "buildx-created.json"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(s.InstancePath("kube"), data, 0o600); err != nil {
		t.Fatal(err)
	}
	groups, err := Read(context.Background(), dir, "kube")
	if err != nil {
		t.Fatal(err)
	}
	// bkctl reads and writes buildx's format byte for byte.
	again, err := Marshal(groups[0])
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(data), string(again)); diff != "" {
		t.Errorf("re-encoding a buildx instance changed it (-buildx +bkctl):\n%s", diff)
	}
	doc, warnings, err := Import(groups, ImportOptions{Name: "ci", Namespace: "buildkit"})
	if err != nil {
		t.Fatalf("Import: %v", err)
	}
	if len(warnings) > 0 {
		t.Errorf("warnings: %q", warnings)
	}
	out, err := doc.YAML()
	if err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "buildx-created.imported.yaml", out)

	// Writing the import back gives buildx's instance, plus the image and replicas that bkctl
	// always records, and with map driver-opts sorted by key.
	res, err := spec.Parse("imported.yaml", out)
	if err != nil {
		t.Fatal(err)
	}
	ng, _, err := NodeGroupFor(res.File.Builders[0], "/tmp/dummy-kubeconfig")
	if err != nil {
		t.Fatal(err)
	}
	want := groups[0]
	for i := range want.Nodes {
		o := want.Nodes[i].DriverOpts
		for _, k := range []string{optImage, optReplicas} {
			if _, ok := o[k]; !ok {
				o[k] = ng.Nodes[i].DriverOpts[k]
			}
		}
		for _, k := range []string{optAnnotations, optLabels, optNodeSelector} {
			if v, ok := o[k]; ok {
				m, err := parseMap(v)
				if err != nil {
					t.Fatal(err)
				}
				if o[k], err = formatMap(k, m); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	if diff := cmp.Diff(want, ng); diff != "" {
		t.Errorf("writing the import back differs from buildx's instance (-buildx +bkctl):\n%s", diff)
	}
}

func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	golden.Check(t, filepath.Join(goldenDir, name), got)
}
