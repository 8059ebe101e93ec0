package apply_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"

	"github.com/bkctl/bkctl/internal/diff"
)

// planCountingDryRuns plans l and returns the plan and the dry-runs it sent.
func (f *fixture) planCountingDryRuns(l loaded) (*diff.Plan, int64) {
	f.t.Helper()
	before := f.counter.dryRuns.Load()
	p := f.plan(l)
	return p, f.counter.dryRuns.Load() - before
}

func TestUnchangedPlanSendsNoDryRun(t *testing.T) {
	f := newFixture(t)
	l := f.file(twoBuilders)
	f.mustApply(l) // waits for the rollouts: controllers have written status and revisions
	p, n := f.planCountingDryRuns(l)
	if p.Pending() {
		t.Fatalf("plan after apply is pending: %v", actions(p))
	}
	if n != 0 {
		t.Errorf("plan of an unchanged file sent %d dry-runs, want 0", n)
	}
	if len(p.Changes) != 4 {
		t.Errorf("changes = %v, want 4 unchanged objects", actions(p))
	}
}

// TestFastPathStepsAside changes one object with a second client after an apply, and checks
// that the plan dry-runs exactly that object and shows the change as it did without records.
func TestFastPathStepsAside(t *testing.T) {
	tests := map[string]struct {
		change func(f *fixture, l loaded)
		// want is the action of Deployment/amd (or ConfigMap/arm-config when config is set).
		config bool
		want   diff.Action
		fields []string
		drift  string // the manager of the drift, if any
		owner  string // the manager of the conflict, if any
	}{
		"kubectl scale": {
			change: func(f *fixture, _ loaded) {
				scale := &autoscalingv1.Scale{ObjectMeta: metav1.ObjectMeta{Name: "amd", Namespace: f.ns}, Spec: autoscalingv1.ScaleSpec{Replicas: 3}}
				_, err := clientset(f.t).AppsV1().Deployments(f.ns).UpdateScale(ctx(f.t), "amd", scale, metav1.UpdateOptions{FieldManager: "kubectl"})
				if err != nil {
					f.t.Fatal(err)
				}
			},
			want: diff.Update, fields: []string{"spec.replicas"}, drift: "kubectl",
		},
		"label removed by a JSON patch": {
			change: func(f *fixture, _ loaded) {
				patch := `[{"op":"remove","path":"/metadata/labels/app.kubernetes.io~1managed-by"}]`
				_, err := clientset(f.t).AppsV1().Deployments(f.ns).Patch(ctx(f.t), "amd", types.JSONPatchType, []byte(patch),
					metav1.PatchOptions{FieldManager: "kubectl-patch"})
				if err != nil {
					f.t.Fatal(err)
				}
			},
			want: diff.Update, fields: []string{"metadata.labels[app.kubernetes.io/managed-by]"},
		},
		"image taken by another applier": {
			change: func(f *fixture, _ loaded) {
				patch := `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"amd","namespace":"` + f.ns + `"},
				  "spec":{"template":{"spec":{"containers":[{"name":"buildkitd","image":"moby/buildkit:master"}]}}}}`
				force := true
				_, err := clientset(f.t).AppsV1().Deployments(f.ns).Patch(ctx(f.t), "amd", types.ApplyPatchType, []byte(patch),
					metav1.PatchOptions{FieldManager: "helm", Force: &force})
				if err != nil {
					f.t.Fatal(err)
				}
			},
			want: diff.Conflict, fields: []string{"spec.template.spec.containers[name=buildkitd].image"}, owner: "helm",
		},
		"kubectl edit of the buildkitd config": {
			change: func(f *fixture, _ loaded) {
				_, err := clientset(f.t).CoreV1().ConfigMaps(f.ns).Patch(ctx(f.t), "arm-config", types.MergePatchType,
					[]byte(`{"data":{"buildkitd.toml":"debug = false\n"}}`), metav1.PatchOptions{FieldManager: "kubectl-edit"})
				if err != nil {
					f.t.Fatal(err)
				}
			},
			config: true, want: diff.Update, fields: []string{"data[buildkitd.toml]"}, drift: "kubectl-edit",
		},
		// an apply by bkctl's own field manager whose inventory record was never written (the
		// run stopped in between): the field set is the recorded one, the values are not
		"apply without its record": {
			change: func(f *fixture, l loaded) {
				var d *unstructured.Unstructured
				for _, o := range l.objs {
					if o.GetKind() == "Deployment" && o.GetName() == "amd" {
						d = o.DeepCopy()
					}
				}
				cs, _, _ := unstructured.NestedSlice(d.Object, "spec", "template", "spec", "containers")
				cs[0].(map[string]any)["image"] = "moby/buildkit:v0.34.2"
				if err := unstructured.SetNestedSlice(d.Object, cs, "spec", "template", "spec", "containers"); err != nil {
					f.t.Fatal(err)
				}
				body, err := json.Marshal(d.Object)
				if err != nil {
					f.t.Fatal(err)
				}
				force := true
				_, err = clientset(f.t).AppsV1().Deployments(f.ns).Patch(ctx(f.t), "amd", types.ApplyPatchType, body,
					metav1.PatchOptions{FieldManager: "bkctl", Force: &force})
				if err != nil {
					f.t.Fatal(err)
				}
			},
			want: diff.Update, fields: []string{"spec.template.spec.containers[name=buildkitd].image"},
		},
		// a field bkctl never sets, owned by someone else: the plan cannot prove it harmless
		// without the server, so it asks, and the object stays unchanged
		"unrelated label by kubectl label": {
			change: func(f *fixture, _ loaded) {
				_, err := clientset(f.t).AppsV1().Deployments(f.ns).Patch(ctx(f.t), "amd", types.MergePatchType,
					[]byte(`{"metadata":{"labels":{"team":"ci"}}}`), metav1.PatchOptions{FieldManager: "kubectl-label"})
				if err != nil {
					f.t.Fatal(err)
				}
			},
			want: diff.Unchanged,
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t)
			l := f.file(twoBuilders)
			f.mustApply(l)
			if _, n := f.planCountingDryRuns(l); n != 0 {
				t.Fatalf("plan before the change sent %d dry-runs, want 0", n)
			}
			tt.change(f, l)
			p, n := f.planCountingDryRuns(l)
			if n != 1 {
				t.Errorf("plan sent %d dry-runs, want 1 (the changed object)", n)
			}
			kind, obj := "Deployment", "amd"
			if tt.config {
				kind, obj = "ConfigMap", "arm-config"
			}
			var got *diff.Change
			for i, c := range p.Changes {
				if c.Ref.Kind == kind && c.Ref.Name == obj {
					got = &p.Changes[i]
				} else if c.Pending() {
					t.Errorf("%s: %s, want unchanged", c.Ref, c.Action)
				}
			}
			if got == nil {
				t.Fatalf("no change for %s/%s in %v", kind, obj, actions(p))
			}
			if got.Action != tt.want {
				t.Errorf("action = %s, want %s", got.Action, tt.want)
			}
			// the deployment controller may bump its revision annotation between list and dry-run
			for _, want := range tt.fields {
				if !slices.Contains(got.Fields, want) {
					t.Errorf("fields = %v, want %s among them", got.Fields, want)
				}
			}
			if tt.want == diff.Unchanged && len(got.Fields) > 0 {
				t.Errorf("fields = %v, want none", got.Fields)
			}
			if tt.drift != "" && !slices.ContainsFunc(got.Drift, func(o diff.Ownership) bool { return o.Manager == tt.drift }) {
				t.Errorf("drift = %+v, want one by %s", got.Drift, tt.drift)
			}
			if tt.owner != "" && !cmp.Equal(got.ConflictManagers(), []string{tt.owner}) {
				t.Errorf("conflicts = %+v, want one with %s", got.Conflicts, tt.owner)
			}
		})
	}
}

// TestPlanOfNewObjectsDryRunsOnePerNamespace plans a file whose objects do not exist: they are
// creates of the rendering, and only one of them is dry-run (to find out that the namespace
// exists). An object of the same name that exists without being a member is still dry-run.
func TestPlanOfNewObjectsDryRunsOnePerNamespace(t *testing.T) {
	f := newFixture(t)
	l := f.file(twoBuilders)
	p, n := f.planCountingDryRuns(l)
	want := []string{"ConfigMap/arm-config create", "Deployment/amd create", "Deployment/arm create", "Deployment/other0 create"}
	if diff := cmp.Diff(want, actions(p)); diff != "" {
		t.Errorf("plan (-want +got):\n%s", diff)
	}
	if n != 1 {
		t.Errorf("plan of 4 new objects in one namespace sent %d dry-runs, want 1", n)
	}

	// the same objects in a namespace that does not exist: the one dry-run says so
	missing := f.file(strings.ReplaceAll(twoBuilders, "  - name: other\n", "  - name: other\n    namespace: "+f.ns+"-missing\n"))
	if _, err := f.m.Plan(ctx(t), missing.set, missing.objs); err == nil || !strings.Contains(err.Error(), "hint: create namespace") {
		t.Errorf("plan into a missing namespace = %v, want the hint to create it", err)
	}

	// a ConfigMap of the same name made by someone else: not absent, so dry-run, and taken over
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "arm-config", Namespace: f.ns}, Data: map[string]string{"buildkitd.toml": "x"}}
	if _, err := clientset(t).CoreV1().ConfigMaps(f.ns).Create(ctx(t), cm, metav1.CreateOptions{FieldManager: "someone"}); err != nil {
		t.Fatal(err)
	}
	p, n = f.planCountingDryRuns(l)
	if got := actions(p)[0]; got != "ConfigMap/arm-config update" {
		t.Errorf("plan with an existing non-member ConfigMap: %s, want an update", got)
	}
	if n != 2 {
		t.Errorf("plan sent %d dry-runs, want 2: the existing ConfigMap and one create", n)
	}
}
