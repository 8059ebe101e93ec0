package faults

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
)

// interrupt sends SIGINT to p and returns its exit code and how long it took to exit. The bound
// is a hang guard, not a timed assertion.
func interrupt(t *testing.T, p *proc) (int, time.Duration) {
	t.Helper()
	start := time.Now()
	p.signal(t, syscall.SIGINT)
	code := p.wait(t, 30*time.Second)
	took := time.Since(start)
	t.Logf("bkctl exited %d, %v after SIGINT\nstderr:\n%s", code, took.Round(time.Millisecond), p.stderr.String())
	return code, took
}

// planJSON runs plan -o json and returns each object's action, keyed by "Kind/namespace/name".
func planJSON(t *testing.T, file string) map[string]string {
	t.Helper()
	code, out, errs := bkctl(t, "plan", "-f", file, "-o", "json")
	if code != 0 {
		t.Fatalf("plan -o json = %d\nstderr:\n%s", code, errs)
	}
	var p struct {
		Objects []struct{ ID, Action string }
	}
	if err := json.Unmarshal([]byte(out), &p); err != nil {
		t.Fatalf("plan -o json: %v\n%s", err, out)
	}
	actions := map[string]string{}
	for _, o := range p.Objects {
		actions[o.ID] = o.Action
	}
	return actions
}

// converges applies file again and checks that the namespace then holds exactly want and that
// plan --exit-code finds nothing to do.
func converges(t *testing.T, file, ns string, want ...string) {
	t.Helper()
	if code, out, errs := bkctl(t, "apply", "-f", file, "--wait=false"); code != 0 {
		t.Fatalf("apply again = %d\nstdout:\n%s\nstderr:\n%s", code, out, errs)
	}
	if got := deployments(t, ns); !sameSet(got, want) {
		t.Errorf("deployments in %s after applying again = %v, want %v", ns, got, want)
	}
	if code, out, errs := bkctl(t, "plan", "-f", file, "--exit-code"); code != 0 {
		t.Errorf("plan --exit-code after applying again = %d, want 0\nstdout:\n%s\nstderr:\n%s", code, out, errs)
	}
}

// TestInterruptWhileWaiting sends SIGINT while apply waits for a rollout that never ends. Apply
// prunes before it waits, so the prune is complete: the dropped builder is gone, the inventory
// lists exactly the file, and bkctl exits 1 at once, saying it was interrupted while waiting.
func TestInterruptWhileWaiting(t *testing.T) {
	ns := env.Namespace(t)
	fileA := writeFile(t, ns, builder("fleet", "", node("keep"), node("gone")))
	if code, out, errs := bkctl(t, "apply", "-f", fileA); code != 0 {
		t.Fatalf("apply A = %d\nstdout:\n%s\nstderr:\n%s", code, out, errs)
	}
	fileB := writeFile(t, ns, builder("fleet", "", node("keep"), stuckNode("stuck", "10m")))

	p := start(t, "apply", "-f", fileB)
	p.waitStderr(t, "Deployment/"+ns+"/stuck: waiting for rollout", time.Minute)
	code, _ := interrupt(t, p)
	errs := p.stderr.String()
	if code != 1 {
		t.Errorf("exit code = %d, want 1", code)
	}
	for _, want := range []string{
		"Deployment/" + ns + "/gone: pruned\n",
		"Apply stopped while waiting for rollouts: 1 change applied, 1 pruned (what was applied stays; apply again to wait for the rollouts).\n",
		"Error: interrupted (interrupt signal received) while waiting for rollouts\n",
	} {
		if !strings.Contains(errs, want) {
			t.Errorf("stderr lacks %q", want)
		}
	}
	if strings.Contains(errs, "not ready after") || strings.Contains(errs, "context canceled") {
		t.Errorf("an interrupted wait is reported as a failure of its own")
	}
	if got := deployments(t, ns); !sameSet(got, []string{"keep", "stuck"}) {
		t.Errorf("deployments after the interrupt = %v, want [keep stuck]", got)
	}
	if gks := parent(t, ns).Annotations["applyset.kubernetes.io/contains-group-kinds"]; gks != "Deployment.apps" {
		t.Errorf("inventory group-kinds = %q, want Deployment.apps", gks)
	}
	if code, out, errs := bkctl(t, "plan", "-f", fileB, "--exit-code"); code != 0 {
		t.Errorf("plan --exit-code after the interrupt = %d, want 0: the apply was complete but for the wait\nstdout:\n%s\nstderr:\n%s", code, out, errs)
	}
}

// TestInterruptWhileApplying sends SIGINT while the create of one new builder waits in the API
// server (held by a webhook) and two prunes are due: bkctl exits 1 saying where it stopped,
// neither prune happened, and the next apply converges to the file.
func TestInterruptWhileApplying(t *testing.T) {
	ns := env.Namespace(t)
	fileA := writeFile(t, ns, builder("fleet", "", node("keep"), node("gone1"), node("gone2")))
	if code, out, errs := bkctl(t, "apply", "-f", fileA); code != 0 {
		t.Fatalf("apply A = %d\nstdout:\n%s\nstderr:\n%s", code, out, errs)
	}
	nodesB, wantB := []string{node("keep")}, []string{"keep"}
	for i := range 6 {
		nodesB, wantB = append(nodesB, node(fmt.Sprintf("new%d", i))), append(wantB, fmt.Sprintf("new%d", i))
	}
	fileB := writeFile(t, ns, builder("fleet", "", nodesB...))

	h := holdDeployment(t, ns, "new3", admissionregistrationv1.Create)
	p := start(t, "apply", "-f", fileB)
	h.waitHeld(t, p)
	// the other creates are not held: interrupt once the server has them, in the middle of the step
	waitFor(t, "the creates that are not held", func() bool {
		return len(deployments(t, ns)) == 3+5
	})
	code, _ := interrupt(t, p)
	h.releaseHeld()
	errs := p.stderr.String()
	if code != 1 {
		t.Errorf("exit code = %d, want 1", code)
	}
	if !regexp.MustCompile(`(?m)^Apply stopped while applying: [0-5] of 6 changes applied, nothing pruned \(apply again to finish\)\.$`).MatchString(errs) {
		t.Errorf("stderr does not say where the apply stopped and that nothing was pruned")
	}
	if !strings.Contains(errs, "Error: interrupted (interrupt signal received) while applying\n") {
		t.Errorf("stderr does not say it was interrupted while applying")
	}
	if strings.Contains(errs, ": pruned") {
		t.Errorf("the interrupted apply pruned")
	}
	got := deployments(t, ns)
	if !contains(got, "gone1") || !contains(got, "gone2") {
		t.Fatalf("deployments after the interrupt = %v: a prune ran", got)
	}
	actions := planJSON(t, fileB)
	for _, name := range []string{"gone1", "gone2"} {
		if a := actions["Deployment/"+ns+"/"+name]; a != "prune" {
			t.Errorf("plan after the interrupt: Deployment/%s/%s is %q, want prune", ns, name, a)
		}
	}
	converges(t, fileB, ns, wantB...)
}

// TestInterruptWhilePruning sends SIGINT while the second of three prunes waits in the API server
// (held by a webhook). The pruned builders live in a second namespace that the file no longer
// uses: were the inventory narrowed to the file before every prune succeeded, the members left
// there would be lost to every later apply. The inventory must still list that namespace, plan
// must still show every member left as a prune, and the next apply must finish the job.
func TestInterruptWhilePruning(t *testing.T) {
	ns, other := env.Namespace(t), env.Namespace(t)
	fileA := writeFile(t, ns, builder("fleet", "", node("keep")), builder("side", other, node("gone1"), node("gone2"), node("gone3")))
	if code, out, errs := bkctl(t, "apply", "-f", fileA); code != 0 {
		t.Fatalf("apply A = %d\nstdout:\n%s\nstderr:\n%s", code, out, errs)
	}
	fileB := writeFile(t, ns, builder("fleet", "", node("keep")))

	// prunes run in reverse name order: gone3 goes, gone2 is held, gone1 waits its turn
	h := holdDeployment(t, other, "gone2", admissionregistrationv1.Delete)
	p := start(t, "apply", "-f", fileB)
	h.waitHeld(t, p)
	code, _ := interrupt(t, p)
	errs := p.stderr.String()
	if code != 1 {
		t.Errorf("exit code = %d, want 1", code)
	}
	for _, want := range []string{
		"Deployment/" + other + "/gone3: pruned\n",
		"Apply stopped while pruning: 1 of 3 prunes done; the inventory still lists the others (apply again to finish).\n",
		"Error: interrupted (interrupt signal received) while pruning\n",
	} {
		if !strings.Contains(errs, want) {
			t.Errorf("stderr lacks %q", want)
		}
	}

	// While gone2's delete is still held, nothing may be left that the inventory forgot.
	left := deployments(t, other)
	if !slices.Equal(left, []string{"gone1", "gone2"}) {
		t.Errorf("deployments left in %s = %v, want [gone1 gone2]", other, left)
	}
	if nss := parent(t, ns).Annotations["applyset.kubernetes.io/additional-namespaces"]; nss != other {
		t.Errorf("inventory namespaces = %q, want %q: the members left there are orphans", nss, other)
	}
	actions := planJSON(t, fileB)
	for _, name := range left {
		if a := actions["Deployment/"+other+"/"+name]; a != "prune" {
			t.Errorf("plan after the interrupt: Deployment/%s/%s is %q, want prune (plan: %v)", other, name, a, actions)
		}
	}
	h.releaseHeld()
	converges(t, fileB, other)
	if nss, ok := parent(t, ns).Annotations["applyset.kubernetes.io/additional-namespaces"]; ok {
		t.Errorf("inventory still lists namespaces %q after the prune finished", nss)
	}
	if got := deployments(t, ns); !slices.Equal(got, []string{"keep"}) {
		t.Errorf("deployments in %s = %v, want [keep]", ns, got)
	}
}
