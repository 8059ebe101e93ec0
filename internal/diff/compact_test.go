package diff

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestCompact proves that a compacted change renders as the whole one does: the same hunks at
// any context, the same summary, and no managed fields or pod template details left.
func TestCompact(t *testing.T) {
	live := obj(t, `{"apiVersion":"apps/v1","kind":"Deployment",
	  "metadata":{"name":"amd","namespace":"ns","labels":{"bkctl.dev/builder":"kube"},"generation":1,
	    "managedFields":[{"manager":"bkctl","operation":"Apply","apiVersion":"apps/v1","fieldsType":"FieldsV1","fieldsV1":{"f:spec":{}}}]},
	  "spec":{"replicas":1,"selector":{"matchLabels":{"app":"amd"}},"template":{"metadata":{"labels":{"app":"amd"}},
	    "spec":{"nodeSelector":{"kubernetes.io/arch":"amd64"},"containers":[{"name":"buildkitd","image":"moby/buildkit:a",
	      "args":["--debug"],"securityContext":{"privileged":true},"readinessProbe":{"periodSeconds":2}}]}}},
	  "status":{"observedGeneration":1,"replicas":1}}`)
	merged := obj(t, `{"apiVersion":"apps/v1","kind":"Deployment",
	  "metadata":{"name":"amd","namespace":"ns","labels":{"bkctl.dev/builder":"kube"},"generation":2},
	  "spec":{"replicas":3,"selector":{"matchLabels":{"app":"amd"}},"template":{"metadata":{"labels":{"app":"amd"}},
	    "spec":{"nodeSelector":{"kubernetes.io/arch":"amd64"},"containers":[{"name":"buildkitd","image":"moby/buildkit:b",
	      "args":["--debug"],"securityContext":{"privileged":true},"readinessProbe":{"periodSeconds":2}}]}}},
	  "status":{"observedGeneration":1,"replicas":1}}`)
	c, err := Compute(merged, live, merged, "bkctl")
	if err != nil {
		t.Fatal(err)
	}
	small := Compact(c)
	for _, ctx := range []int{0, 1, 3, 10} {
		if d := cmp.Diff(Hunks(c, ctx), Hunks(small, ctx)); d != "" {
			t.Errorf("hunks with context %d (-whole +compact):\n%s", ctx, d)
		}
	}
	whole, compact := &Plan{Changes: []Change{c}}, &Plan{Changes: []Change{small}}
	if d := cmp.Diff(whole.Summary(), compact.Summary()); d != "" {
		t.Errorf("summary (-whole +compact):\n%s", d)
	}
	for name, tt := range map[string]struct {
		o     map[string]any
		image string
	}{"live": {small.Live.Object, "moby/buildkit:a"}, "merged": {small.Merged.Object, "moby/buildkit:b"}} {
		o := tt.o
		if _, ok := o["metadata"].(map[string]any)["managedFields"]; ok {
			t.Errorf("%s keeps its managed fields", name)
		}
		got := o["spec"].(map[string]any)["template"]
		want := map[string]any{"metadata": map[string]any{"labels": map[string]any{"app": "amd"}},
			"spec": map[string]any{"containers": []any{map[string]any{"name": "buildkitd", "image": tt.image, "securityContext": map[string]any{"privileged": true}}}}}
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("%s pod template (-want +got):\n%s", name, d)
		}
	}
	if c.Live.Object["status"] == nil || small.Live.Object["status"] == nil {
		t.Error("the status is gone")
	}
}
