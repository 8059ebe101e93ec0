package apply_test

import (
	"bytes"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/bkctl/bkctl/internal/apply"
	"github.com/bkctl/bkctl/internal/diff"
	"github.com/bkctl/bkctl/internal/golden"
)

// checkGolden compares got with testdata/<name>, or rewrites it with -update.
func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	golden.Check(t, filepath.Join("testdata", name), []byte(got))
}

func planText(t *testing.T, f *fixture, l loaded, p *diff.Plan) string {
	var b bytes.Buffer
	if err := diff.WriteText(&b, p, diff.DefaultTextOptions()); err != nil {
		t.Fatal(err)
	}
	return normalize(b.String(), f.ns, l.set)
}

func TestDriftIsShownAndReverted(t *testing.T) {
	f := newFixture(t)
	l := f.file(oneNode)
	f.mustApply(l)
	// someone runs kubectl edit (an Update by another manager) on replicas
	_, err := clientset(t).AppsV1().Deployments(f.ns).Patch(ctx(t), "amd", types.MergePatchType,
		[]byte(`{"spec":{"replicas":3}}`), metav1.PatchOptions{FieldManager: "kubectl-edit"})
	if err != nil {
		t.Fatal(err)
	}
	settled(t, f.ns, "amd")
	p := f.plan(l)
	c := p.Changes[0]
	if c.Action != diff.Update || len(c.Drift) != 1 || c.Drift[0].Manager != "kubectl-edit" {
		t.Fatalf("change = %s %+v, want an update with drift by kubectl-edit", c.Action, c.Drift)
	}
	checkGolden(t, "plan-drift.txt", planText(t, f, l, p))

	f.mustApply(l)
	d, err := clientset(t).AppsV1().Deployments(f.ns).Get(ctx(t), "amd", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if *d.Spec.Replicas != 1 {
		t.Errorf("replicas after apply = %d, want 1", *d.Spec.Replicas)
	}
	if p := f.plan(l); p.Pending() {
		t.Errorf("plan after revert is pending: %v", actions(p))
	}
}

func TestConflictWithAnotherApplier(t *testing.T) {
	f := newFixture(t)
	l := f.file(oneNode)
	f.mustApply(l)
	// another declarative tool takes the image with a forced server-side apply
	patch := `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"amd","namespace":"` + f.ns + `"},
	  "spec":{"template":{"spec":{"containers":[{"name":"buildkitd","image":"moby/buildkit:master"}]}}}}`
	force := true
	_, err := clientset(t).AppsV1().Deployments(f.ns).Patch(ctx(t), "amd", types.ApplyPatchType, []byte(patch),
		metav1.PatchOptions{FieldManager: "helm", Force: &force})
	if err != nil {
		t.Fatal(err)
	}
	settled(t, f.ns, "amd")
	p := f.plan(l)
	c := p.Changes[0]
	if c.Action != diff.Conflict || !cmp.Equal(c.ConflictManagers(), []string{"helm"}) {
		t.Fatalf("change = %s %+v, want a conflict with helm", c.Action, c.Conflicts)
	}
	text := planText(t, f, l, p)
	if !strings.Contains(text, `! conflict`) || !strings.Contains(text, `owned by "helm"`) {
		t.Errorf("plan text does not show the conflict:\n%s", text)
	}
	checkGolden(t, "plan-conflict.txt", text)

	before := f.counter.mutating.Load()
	_, err = f.apply(l, nil)
	var ce *apply.ConflictError
	if !errors.As(err, &ce) {
		t.Fatalf("apply without force = %v, want a ConflictError", err)
	}
	if n := f.counter.mutating.Load() - before; n != 0 {
		t.Errorf("a refused apply made %d mutating requests: %v", n, f.counter.log)
	}
	if _, err := f.apply(l, func(o *apply.Options) { o.ForceConflicts = true }); err != nil {
		t.Fatalf("apply --force-conflicts: %v", err)
	}
	d, err := clientset(t).AppsV1().Deployments(f.ns).Get(ctx(t), "amd", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := d.Spec.Template.Spec.Containers[0].Image; got != "moby/buildkit:buildx-stable-1" {
		t.Errorf("image after forced apply = %q", got)
	}
	if p := f.plan(l); p.Pending() {
		t.Errorf("plan after forced apply is pending: %v", actions(p))
	}
}

// settled waits until the deployment controller has seen the Deployment's last change: it bumps
// the revision annotation then, and a plan whose live read and dry-run straddle that bump would
// show the controller's change in its diff.
func settled(t *testing.T, ns, name string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		d, err := clientset(t).AppsV1().Deployments(ns).Get(ctx(t), name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if d.Status.ObservedGeneration >= d.Generation {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("Deployment/%s/%s: observedGeneration %d, generation %d after 30s", ns, name, d.Status.ObservedGeneration, d.Generation)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
