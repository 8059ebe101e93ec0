package testenv_test

import (
	"context"
	"errors"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/bkctl/bkctl/internal/testenv"
)

// TestAPIServerRestart stops and restarts kube-apiserver of an environment of its own (the
// package's may be shared): while it is down requests are refused; once it is back, the
// controllers, the scheduler and kwok work again without a restart of their own (a new
// Deployment and a scale-up of an old one get Ready pods), and exec reaches the pods' buildkitds,
// old and new. An environment attached with Load refuses both.
func TestAPIServerRestart(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	var log testenv.Buffer
	e, err := testenv.Start(ctx, testenv.Options{Log: &log})
	if err != nil {
		t.Fatalf("start a private environment: %v\n%s", err, log.String())
	}
	t.Cleanup(func() {
		if err := e.Stop(); err != nil {
			t.Errorf("stop: %v", err)
		}
		if t.Failed() {
			t.Logf("environment log:\n%s", log.String())
		}
	})

	attached, err := testenv.Load(filepath.Join(e.RunDir, "env.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := attached.StopAPIServer(); !errors.Is(err, testenv.ErrNotOwned) {
		t.Fatalf("StopAPIServer of an attached environment = %v, want ErrNotOwned", err)
	}
	if err := attached.StartAPIServer(ctx); !errors.Is(err, testenv.ErrNotOwned) {
		t.Fatalf("StartAPIServer of an attached environment = %v, want ErrNotOwned", err)
	}
	if err := e.StartAPIServer(ctx); err == nil {
		t.Fatal("StartAPIServer while it runs succeeded")
	}

	cs := kubernetes.NewForConfigOrDie(e.Config)
	ns, err := e.CreateNamespace(ctx, "restart")
	if err != nil {
		t.Fatal(err)
	}
	apply := func(name string, replicas int) {
		t.Helper()
		if _, err := applyIn(ctx, t, e, ns, "bkctl", builderDeployment(name, "amd64", replicas), false, false); err != nil {
			t.Fatal(err)
		}
	}
	apply("before", 1)
	old := waitReadyPodsIn(ctx, t, e, ns, "before", 1)[0]

	start := time.Now()
	if err := e.StopAPIServer(); err != nil {
		t.Fatal(err)
	}
	t.Logf("kube-apiserver stopped in %v", time.Since(start).Round(time.Millisecond))
	if _, err := cs.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{}); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("GET while the apiserver is down = %v, want connection refused", err)
	}
	if err := e.StopAPIServer(); err == nil {
		t.Fatal("a second StopAPIServer succeeded")
	}
	time.Sleep(2 * time.Second) // long enough for the clients' watches to fail and back off
	start = time.Now()
	if err := e.StartAPIServer(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("kube-apiserver ready again in %v", time.Since(start).Round(time.Millisecond))

	apply("after", 1)
	patch := []byte(`{"spec":{"replicas":2}}`)
	if _, err := cs.AppsV1().Deployments(ns).Patch(ctx, "before", types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	pods := append(waitReadyPodsIn(ctx, t, e, ns, "after", 1), waitReadyPodsIn(ctx, t, e, ns, "before", 2)...)
	t.Logf("pods Ready %v after the restart", time.Since(start).Round(time.Millisecond))
	sawOld := false
	for _, p := range pods {
		sawOld = sawOld || p.UID == old.UID
		if err := execReachesDaemonIn(ctx, e, ns, p.Name); err != nil {
			t.Errorf("exec into %s after the restart: %v", p.Name, err)
		}
	}
	if !sawOld {
		t.Errorf("pod %s, Ready before the restart, is gone after it", old.Name)
	}
}
