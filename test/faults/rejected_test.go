package faults

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
)

// TestRejectedApplyPrunesNothing has the API server, which stays up, refuse one object of an
// apply that also has a prune due: the prune must not run (prune only after every apply
// succeeded), the error names the object and the server's reason, and the next apply converges.
// Unlike a dead server or an interrupt, which fail every later request anyway, this proves the
// order itself.
func TestRejectedApplyPrunesNothing(t *testing.T) {
	ns := env.Namespace(t)
	fileA := writeFile(t, ns, builder("fleet", "", node("a0"), node("a1"), node("a2")))
	if code, out, errs := bkctl(t, "apply", "-f", fileA); code != 0 {
		t.Fatalf("apply A = %d\nstdout:\n%s\nstderr:\n%s", code, out, errs)
	}
	nodesB := []string{node("a0")} // a1 and a2 are dropped
	wantB := []string{"a0"}
	for i := range 8 {
		nodesB = append(nodesB, node(fmt.Sprintf("b%d", i)))
		wantB = append(wantB, fmt.Sprintf("b%d", i))
	}
	fileB := writeFile(t, ns, builder("fleet", "", nodesB...))

	denyDeployment(t, ns, "b5", admissionregistrationv1.Create, "b5 is refused by the test")
	code, out, errs := bkctl(t, "apply", "-f", fileB)
	t.Logf("exit %d\nstderr:\n%s", code, errs)
	if code != 1 {
		t.Errorf("exit code = %d, want 1", code)
	}
	want := "Error: Deployment/" + ns + "/b5: apply: admission webhook \"hold.faults.bkctl.dev\" denied the request: b5 is refused by the test"
	if !strings.Contains(errs, want) {
		t.Errorf("stderr lacks %q\nstdout:\n%s\nstderr:\n%s", want, out, errs)
	}
	if strings.Contains(errs, "hint: bkctl needs") {
		t.Errorf("a webhook's refusal is explained as missing RBAC permissions:\n%s", errs)
	}
	m := regexp.MustCompile(`(?m)^Apply stopped while applying: ([0-7]) of 8 changes applied, nothing pruned \(apply again to finish\)\.$`).FindStringSubmatch(errs)
	if m == nil {
		t.Fatalf("stderr does not say where the apply stopped and that nothing was pruned:\n%s", errs)
	}
	got := deployments(t, ns)
	if !contains(got, "a1") || !contains(got, "a2") {
		t.Fatalf("deployments after the refused apply = %v: a prune ran although an apply failed", got)
	}
	// the count is what the cluster holds: the other applies in flight finished, none was cut off
	if n := len(got) - 3; m[1] != strconv.Itoa(n) {
		t.Errorf("bkctl reports %s of the 8 new builders applied; the cluster has %d: %v", m[1], n, got)
	}

	code, out, errs = bkctl(t, "apply", "-f", fileB)
	if code != 0 {
		t.Fatalf("apply B again = %d\nstdout:\n%s\nstderr:\n%s", code, out, errs)
	}
	if got := deployments(t, ns); !sameSet(got, wantB) {
		t.Errorf("deployments after the second apply = %v, want %v", got, wantB)
	}
	if code, out, errs := bkctl(t, "plan", "-f", fileB, "--exit-code"); code != 0 {
		t.Errorf("plan --exit-code = %d, want 0\nstdout:\n%s\nstderr:\n%s", code, out, errs)
	}
}
