package faults

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
)

// TestAPIServerKilledDuringApply kills kube-apiserver while bkctl applies a file that adds many
// builders and drops one: bkctl must exit 1 with one clear error that names the object and the
// unreachable server, prune nothing (the dropped builder outlives the failed run), and, once the
// server is back, the same apply must converge to exactly the file.
func TestAPIServerKilledDuringApply(t *testing.T) {
	ns := env.Namespace(t)
	fileA := writeFile(t, ns, builder("fleet", "", node("a0"), node("a1"), node("a2")))
	if code, out, errs := bkctl(t, "apply", "-f", fileA); code != 0 {
		t.Fatalf("apply A = %d\nstdout:\n%s\nstderr:\n%s", code, out, errs)
	}

	const added = 30
	nodesB := []string{node("a0"), node("a1")} // a2 is dropped: B prunes it
	var wantB []string
	for i := range added {
		nodesB = append(nodesB, node(fmt.Sprintf("b%02d", i)))
		wantB = append(wantB, fmt.Sprintf("b%02d", i))
	}
	wantB = append(wantB, "a0", "a1")
	fileB := writeFile(t, ns, builder("fleet", "", nodesB...))

	// The create of b20 waits in a webhook: the apiserver dies while bkctl is applying.
	h := holdDeployment(t, ns, "b20", admissionregistrationv1.Create)
	p := start(t, "apply", "-f", fileB)
	req := h.waitHeld(t, p)
	t.Logf("holding %s %s/%s; killing kube-apiserver", req.Operation, req.Namespace, req.Name)
	killed := time.Now()
	if err := env.StopAPIServer(); err != nil {
		t.Fatal(err)
	}
	code := p.wait(t, 2*time.Minute)
	t.Logf("bkctl exited %d, %v after the kill", code, time.Since(killed).Round(time.Millisecond))
	stderr := p.stderr.String()
	t.Logf("stderr:\n%s", stderr)
	if err := env.StartAPIServer(ctx(t)); err != nil {
		t.Fatal(err)
	}

	if code != 1 {
		t.Errorf("exit code = %d, want 1", code)
	}
	errLine := regexp.MustCompile(`(?m)^Error: Deployment/` + ns + `/(a\d|b\d\d): apply: cannot reach the cluster at ` +
		regexp.QuoteMeta(env.Config.Host) + `: .*(connection refused|EOF|connection reset|connection lost)`)
	if !errLine.MatchString(stderr) {
		t.Errorf("stderr has no error naming the object, the verb and the server %s:\n%s", env.Config.Host, stderr)
	}
	// progress, then one line on where it stopped and one error: no wall of retries
	var other []string
	for _, l := range strings.Split(strings.TrimSpace(stderr), "\n") {
		if !strings.HasSuffix(l, ": created") {
			other = append(other, l)
		}
	}
	if len(other) != 2 || !strings.HasPrefix(other[0], "Apply stopped while applying: ") || !strings.HasPrefix(other[1], "Error: ") {
		t.Errorf("stderr has, besides progress, %d lines, want the stop and the error:\n%s", len(other), strings.Join(other, "\n"))
	}
	if !strings.Contains(stderr, "nothing pruned") {
		t.Errorf("stderr does not say that nothing was pruned:\n%s", stderr)
	}
	if strings.Contains(stderr, ": pruned") {
		t.Errorf("the failed apply pruned:\n%s", stderr)
	}
	got := deployments(t, ns)
	if !contains(got, "a2") {
		t.Fatalf("after the failed apply the deployments are %v: a2 was pruned", got)
	}
	// requests cut off by the crash may have been stored: bkctl cannot know more than it reports
	if m := regexp.MustCompile(`stopped while applying: (\d+) of 30`).FindStringSubmatch(stderr); m == nil {
		t.Errorf("stderr does not say how much was applied")
	} else if n, _ := strconv.Atoi(m[1]); n > len(got)-3 {
		t.Errorf("bkctl reports %d builders applied, the cluster has %d", n, len(got)-3)
	}

	code, out, errs := bkctl(t, "apply", "-f", fileB)
	if code != 0 || !strings.Contains(errs, "Deployment/"+ns+"/a2: pruned") {
		t.Fatalf("apply B after the restart = %d, want 0 with a2 pruned\nstdout:\n%s\nstderr:\n%s", code, out, errs)
	}
	if got := deployments(t, ns); !sameSet(got, wantB) {
		t.Errorf("deployments after the second apply = %v, want %v", got, wantB)
	}
	if code, out, errs := bkctl(t, "plan", "-f", fileB, "--exit-code"); code != 0 {
		t.Errorf("plan --exit-code after the second apply = %d, want 0\nstdout:\n%s\nstderr:\n%s", code, out, errs)
	}
}
