package podexec_test

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/bkctl/bkctl/internal/podexec"
	"github.com/bkctl/bkctl/internal/testenv"
)

// The environment starts on the first test that asks for it (lazy.Require), so that
// go test -short runs the tests that need none without one.
var (
	lazy testenv.Lazy
	env  *testenv.Env
)

func TestMain(m *testing.M) { testenv.MainLazy(m, &lazy, &env) }

// readyPod creates a pod labelled app=node on the amd64 node of the environment, whose exec
// reaches a buildkitd of its own, and returns the transport to node's pods once it is Ready.
func readyPod(t *testing.T, ns, node string) (*podexec.PodExec, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: node + "-0", Namespace: ns, Labels: map[string]string{"app": node}},
		Spec: corev1.PodSpec{
			NodeSelector: map[string]string{corev1.LabelHostname: testenv.NodeAMD64},
			Containers:   []corev1.Container{{Name: "buildkitd", Image: "moby/buildkit:buildx-stable-1"}},
		},
	}
	if _, err := kubernetes.NewForConfigOrDie(env.Config).CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pe, err := podexec.NewPodExec(env.Config, ns, node)
	if err != nil {
		t.Fatal(err)
	}
	for {
		ds, err := pe.Daemons(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(ds) == 1 {
			return pe, ds[0]
		}
		select {
		case <-ctx.Done():
			t.Fatalf("wait for Pod/%s/%s Ready: %v", ns, pod.Name, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}
