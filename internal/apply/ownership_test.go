package apply_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bkctl/bkctl/internal/apply"
	"github.com/bkctl/bkctl/internal/diff"
	"github.com/bkctl/bkctl/internal/keys"
)

// armNode is a second builders file's builder, in the same namespace as oneNode's.
const armNode = `
builders:
  - name: arms
    nodes:
      - name: arm
        platforms: [linux/arm64]
        nodeSelector: {kubernetes.io/arch: arm64}
        buildkitd:
          config: |
            debug = true
`

// TestFilesSharingANamespaceDoNotPruneEachOther applies two builders files into one namespace
// and empties, then deletes, one of them: the other's objects stay, and its plan stays in sync.
func TestFilesSharingANamespaceDoNotPruneEachOther(t *testing.T) {
	f := newFixture(t)
	fleet, other := f.file(oneNode), f.fileNamed("other", armNode)
	f.mustApply(fleet)
	f.mustApply(other)
	if p := f.plan(fleet); p.Pending() {
		t.Fatalf("fleet after applying other is pending: %v", actions(p))
	}

	// Emptying fleet prunes its Deployment only; other's Deployment and ConfigMap are not even planned.
	empty := f.file("builders: []\n")
	if diff := cmp.Diff([]string{"Deployment/amd prune"}, actions(f.plan(empty))); diff != "" {
		t.Errorf("plan of the emptied fleet (-want +got):\n%s", diff)
	}
	res := f.mustApply(empty)
	if diff := cmp.Diff([]string{"Deployment/" + f.ns + "/amd"}, refStrings(res.Pruned)); diff != "" {
		t.Errorf("pruned (-want +got):\n%s", diff)
	}
	if _, err := clientset(t).AppsV1().Deployments(f.ns).Get(ctx(t), "arm", metav1.GetOptions{}); err != nil {
		t.Errorf("other's Deployment after fleet was emptied: %v", err)
	}
	if _, err := clientset(t).CoreV1().ConfigMaps(f.ns).Get(ctx(t), "arm-config", metav1.GetOptions{}); err != nil {
		t.Errorf("other's ConfigMap after fleet was emptied: %v", err)
	}
	if p := f.plan(other); p.Pending() {
		t.Errorf("other after fleet was emptied is pending: %v", actions(p))
	}

	// Deleting other's inventory leaves fleet's parent alone (fleet has one again after an apply).
	f.mustApply(fleet)
	f.mustDelete(other)
	if _, err := clientset(t).AppsV1().Deployments(f.ns).Get(ctx(t), "arm", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("other's Deployment after its delete: %v, want NotFound", err)
	}
	if p := f.plan(fleet); p.Pending() {
		t.Errorf("fleet after other's delete is pending: %v", actions(p))
	}
}

// TestObjectOfAnotherInventoryIsAConflict has a second file render a node of the same name as the
// first file's: both apply with the field manager bkctl, so only the inventory label tells that
// the object is another file's. The plan shows a conflict naming that inventory, apply refuses
// and writes nothing, and --force-conflicts moves the object to the second file.
func TestObjectOfAnotherInventoryIsAConflict(t *testing.T) {
	f := newFixture(t)
	fleet, rival := f.file(oneNode), f.fileNamed("rival", oneNode)
	f.mustApply(fleet)
	settled(t, f.ns, "amd")

	p := f.plan(rival)
	c := deploymentChange(p)
	wantOwner := "inventory " + f.ns + "/" + fleet.set.ParentName
	if c.Action != diff.Conflict || !cmp.Equal(c.ConflictManagers(), []string{wantOwner}) {
		t.Fatalf("rival's plan of Deployment/amd = %s %+v, want a conflict with %q", c.Action, c.Conflicts, wantOwner)
	}
	text := planText(t, f, rival, p)
	wantLine := "! conflict  Deployment/NAMESPACE/amd: rendered by another builders file too: a member of inventory NAMESPACE/" +
		fleet.set.ParentName + " (hint: --force-conflicts moves it to this file's inventory)"
	if !strings.Contains(text, wantLine) {
		t.Errorf("plan text does not name the other inventory:\n%s", text)
	}

	before := f.counter.mutating.Load()
	_, err := f.apply(rival, nil)
	var ce *apply.ConflictError
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), wantOwner) {
		t.Fatalf("rival's apply = %v, want a ConflictError naming %s", err, wantOwner)
	}
	if n := f.counter.mutating.Load() - before; n != 0 {
		t.Errorf("a refused apply made %d mutating requests: %v", n, f.counter.log)
	}
	d, err := clientset(t).AppsV1().Deployments(f.ns).Get(ctx(t), "amd", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := d.Labels[keys.LabelApplySetPartOf]; got != fleet.set.ID {
		t.Fatalf("after the refused apply the Deployment is part of %q, want fleet's %q", got, fleet.set.ID)
	}

	if _, err := f.apply(rival, func(o *apply.Options) { o.ForceConflicts = true }); err != nil {
		t.Fatalf("rival's apply --force-conflicts: %v", err)
	}
	if p := f.plan(rival); p.Pending() {
		t.Errorf("rival after taking the Deployment over is pending: %v", actions(p))
	}
	// Now fleet sees the same conflict the other way round, and does not plan a create.
	c = deploymentChange(f.plan(fleet))
	wantOwner = "inventory " + f.ns + "/" + rival.set.ParentName
	if c.Action != diff.Conflict || !cmp.Equal(c.ConflictManagers(), []string{wantOwner}) {
		t.Errorf("fleet's plan after the takeover = %s %+v, want a conflict with %q", c.Action, c.Conflicts, wantOwner)
	}
}

// deploymentChange returns the plan's change of its one Deployment.
func deploymentChange(p *diff.Plan) diff.Change {
	for _, c := range p.Changes {
		if c.Ref.Kind == "Deployment" {
			return c
		}
	}
	return diff.Change{}
}

func refStrings(rs []diff.Ref) []string {
	out := make([]string, 0, len(rs))
	for _, r := range rs {
		out = append(out, r.String())
	}
	return out
}
