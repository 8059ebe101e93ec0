package testenv_test

import (
	"context"
	"testing"
	"time"

	bkclient "github.com/moby/buildkit/client"
)

// TestKillDaemonHoldsRestartUntilResume kills a pod's daemon: it refuses clients until resume,
// and then answers again with the same worker (its state directory survives, as a container's
// volume does).
func TestKillDaemonHoldsRestartUntilResume(t *testing.T) {
	ctx := t.Context()
	ns := env.Namespace(t)
	if _, err := apply(ctx, t, ns, "bkctl", builderDeployment("amd", "amd64", 1), false, false); err != nil {
		t.Fatal(err)
	}
	pod := waitReadyPods(ctx, t, ns, "amd", 1)[0].Name
	addr, err := env.PodDaemon(ctx, ns, pod)
	if err != nil {
		t.Fatal(err)
	}
	listWorkers := func(timeout time.Duration) (string, error) {
		ctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		c, err := bkclient.New(ctx, addr)
		if err != nil {
			return "", err
		}
		defer c.Close()
		ws, err := c.ListWorkers(ctx)
		if err != nil || len(ws) == 0 {
			return "", err
		}
		return ws[0].ID, nil
	}
	before, err := listWorkers(time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	resume, err := env.KillDaemon(ctx, ns, pod)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(resume)
	time.Sleep(500 * time.Millisecond) // long enough for a restart that was not held
	if _, err := listWorkers(2 * time.Second); err == nil {
		t.Fatalf("the buildkitd of %s answers after KillDaemon, before resume", pod)
	}
	resume()
	var after string
	deadline := time.Now().Add(time.Minute)
	for after == "" && time.Now().Before(deadline) {
		if after, err = listWorkers(5 * time.Second); err != nil {
			time.Sleep(100 * time.Millisecond)
		}
	}
	if after != before {
		t.Fatalf("after resume the buildkitd of %s has worker %q (last error %v), want %q as before", pod, after, err, before)
	}
}
