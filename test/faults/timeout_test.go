package faults

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
)

// stuckNode is a node whose pods can never be scheduled: no kwok node has its architecture.
func stuckNode(name, timeout string) string {
	return "      - name: " + name + "\n        nodeSelector: {kubernetes.io/arch: s390x}\n        timeout: " + timeout + "\n"
}

// TestWaitTimeoutReportsEachNode applies a file with two nodes that never become ready, each
// with its own timeout, and one that does: apply exits 1 and reports each unready node with its
// timeout, its status and why its pod is not running, in text and in -o json; --timeout replaces
// the nodes' timeouts.
func TestWaitTimeoutReportsEachNode(t *testing.T) {
	ns := env.Namespace(t)
	file := writeFile(t, ns, builder("fleet", "", node("ok"), stuckNode("stuck1", "3s"), stuckNode("stuck2", "4s")))

	code, out, errs := bkctl(t, "apply", "-f", file)
	t.Logf("exit %d\nstderr:\n%s", code, errs)
	if code != 1 {
		t.Errorf("exit code = %d, want 1\nstdout:\n%s", code, out)
	}
	// the kstatus message, and the pod's phase and why the scheduler leaves it Pending
	why := `Available: 0/1; pod stuck\d-[a-z0-9]+-[a-z0-9]+ Pending: Unschedulable: 0/2 nodes are available: 2 node\(s\) didn't match Pod's node affinity/selector\.$`
	for name, timeout := range map[string]string{"stuck1": "3s", "stuck2": "4s"} {
		// a line of the final error, one for each node
		re := regexp.MustCompile(`(?m)^  Deployment/` + ns + `/` + name + `: not ready after ` + timeout + ` \(InProgress\): ` + why)
		if !re.MatchString(errs) {
			t.Errorf("stderr does not report %s as not ready after %s with why (%s)", name, timeout, re)
		}
	}
	if !strings.Contains(errs, "Error: wait for rollout: 2 of 3 builder nodes not ready:\n") {
		t.Errorf("stderr lacks the error's headline")
	}
	if !strings.Contains(errs, "Deployment/"+ns+"/ok: ready after") {
		t.Errorf("the ready node is not reported ready")
	}

	code, out, errs = bkctl(t, "apply", "-f", file, "--timeout=2s", "-o", "json")
	if code != 1 {
		t.Errorf("apply --timeout=2s -o json = %d, want 1\nstderr:\n%s", code, errs)
	}
	var res struct {
		NotReady []struct {
			Object                   struct{ Kind, Namespace, Name string }
			Status, Message, Timeout string
		}
		Ready   []struct{ Kind, Namespace, Name string }
		Stopped string `json:"stoppedWhile"`
		Error   string
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("stdout is not JSON: %v\n%s", err, out)
	}
	if len(res.NotReady) != 2 || res.Stopped != "waiting for rollouts" || !strings.HasPrefix(res.Error, "wait for rollout: 2 of 2 builder nodes not ready:") {
		t.Fatalf("json = %+v", res)
	}
	for i, name := range []string{"stuck1", "stuck2"} {
		nr := res.NotReady[i]
		if nr.Object.Kind != "Deployment" || nr.Object.Namespace != ns || nr.Object.Name != name || nr.Timeout != "2s" || nr.Status != "InProgress" || !regexp.MustCompile(why).MatchString(nr.Message) {
			t.Errorf("notReady[%d] = %+v, want %s after --timeout 2s, InProgress, with why", i, nr, name)
		}
	}
}
