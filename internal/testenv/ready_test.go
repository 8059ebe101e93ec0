package testenv_test

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/remotecommand"

	"github.com/bkctl/bkctl/internal/testenv"
)

// TestExecWorksOnceReady creates many pods at once on both nodes, recreates some under the same
// name (as a StatefulSet does), and execs into each pod exactly once, as soon as it is seen
// Ready: the environment promises that a Ready pod's exec reaches its own buildkitd address,
// without retries.
func TestExecWorksOnceReady(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	ns := env.Namespace(t)
	cs := kubernetes.NewForConfigOrDie(env.Config)
	pods := cs.CoreV1().Pods(ns)

	w, err := pods.Watch(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()

	const n = 24
	newPod := func(name string, i int) *corev1.Pod {
		node := testenv.NodeAMD64
		if i%2 == 1 {
			node = testenv.NodeARM64
		}
		return &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: corev1.PodSpec{
				NodeSelector: map[string]string{corev1.LabelHostname: node},
				Containers:   []corev1.Container{{Name: "buildkitd", Image: "moby/buildkit:buildx-stable-1"}},
			},
		}
	}
	go func() {
		for i := range n {
			if _, err := pods.Create(ctx, newPod(fmt.Sprintf("p-%d", i), i), metav1.CreateOptions{}); err != nil {
				t.Errorf("create pod: %v", err)
			}
		}
	}()

	// Wait for Ready through the watch and exec at once. Some pods are then deleted and
	// recreated under the same name, on the same node (a StatefulSet's pod keeps its daemon) or
	// on the other one (a new daemon of the other platform), and must turn Ready (and exec-able)
	// again.
	recreates := map[string]int{"p-0": 0, "p-1": 1, "p-2": 3, "p-3": 2} // name: index for newPod
	var wg sync.WaitGroup
	seen := map[string]bool{} // uid
	readyByName := map[string]int{}
	want := n + len(recreates)
	for len(seen) < want {
		var ev watch.Event
		select {
		case ev = <-w.ResultChan():
		case <-ctx.Done():
			t.Fatalf("%d of %d pods turned Ready: %v\n%s", len(seen), want, ctx.Err(), describePods(ns))
		}
		p, ok := ev.Object.(*corev1.Pod)
		if !ok || ev.Type == watch.Deleted || p.DeletionTimestamp != nil || !isReady(p) || seen[string(p.UID)] {
			continue
		}
		seen[string(p.UID)] = true
		readyByName[p.Name]++
		if p.Annotations[testenv.ExecReadyAnnotation] != "true" {
			t.Errorf("pod %s is Ready without %s", p.Name, testenv.ExecReadyAnnotation)
		}
		name := p.Name
		i, again := recreates[name]
		again = again && readyByName[name] == 1
		wg.Go(func() {
			start := time.Now()
			if err := execReachesDaemon(ctx, ns, name); err != nil {
				t.Errorf("exec into %s as soon as it was Ready: %v", name, err)
			} else {
				t.Logf("pod %s: exec %v after Ready", name, time.Since(start).Round(time.Millisecond))
			}
			if again {
				var zero int64
				if err := pods.Delete(ctx, name, metav1.DeleteOptions{GracePeriodSeconds: &zero}); err != nil {
					t.Error(err)
					return
				}
				if err := recreate(ctx, t, pods, newPod(name, i)); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
}

// execReachesDaemon execs into the pod once and checks that the command ran with the pod's own
// buildkitd address.
func execReachesDaemon(ctx context.Context, ns, pod string) error {
	return execReachesDaemonIn(ctx, env, ns, pod)
}

// execReachesDaemonIn is execReachesDaemon in the environment e.
func execReachesDaemonIn(ctx context.Context, e *testenv.Env, ns, pod string) error {
	addr, err := e.PodDaemon(ctx, ns, pod)
	if err != nil {
		return err
	}
	out, err := execOutputIn(ctx, e, ns, pod, `echo "$BUILDKIT_HOST"`)
	if err != nil {
		return err
	}
	if got := strings.TrimSpace(out); got != addr {
		return fmt.Errorf("reached BUILDKIT_HOST=%q, want %q", got, addr)
	}
	return nil
}

// describePods lists the namespace's pods with what tells why one is not Ready.
func describePods(ns string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	list, err := kubernetes.NewForConfigOrDie(env.Config).CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return err.Error()
	}
	var b strings.Builder
	for _, p := range list.Items {
		fmt.Fprintf(&b, "pod %s uid=%s node=%q phase=%s ready=%v deleting=%v %s=%q\n", p.Name, p.UID, p.Spec.NodeName,
			p.Status.Phase, isReady(&p), p.DeletionTimestamp != nil, testenv.ExecReadyAnnotation, p.Annotations[testenv.ExecReadyAnnotation])
	}
	return b.String()
}

func isReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// recreate creates pod as soon as the old pod of that name is gone, and again if it vanishes
// before it is Ready, as a StatefulSet controller would: kwok v0.8.0 deletes pods by name,
// without a UID precondition, and a delete it queued for the old pod may hit the new one.
func recreate(ctx context.Context, t *testing.T, pods corev1client.PodInterface, pod *corev1.Pod) error {
	created := false
	for {
		p, err := pods.Get(ctx, pod.Name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			if created {
				t.Logf("pod %s vanished before it was Ready (kwok's delete of the old pod?); creating it again", pod.Name)
			}
			if _, err := pods.Create(ctx, pod, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
				return err
			}
			created = true
		case err != nil:
			return err
		case created && p.DeletionTimestamp == nil && isReady(p):
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("recreate %s: %w", pod.Name, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// execOutput runs a shell command in the pod's buildkitd container, once, and returns its output.
func execOutput(ctx context.Context, ns, pod, script string) (string, error) {
	return execOutputIn(ctx, env, ns, pod, script)
}

// execOutputIn is execOutput in the environment e.
func execOutputIn(ctx context.Context, e *testenv.Env, ns, pod, script string) (string, error) {
	cs := kubernetes.NewForConfigOrDie(e.Config)
	req := cs.CoreV1().RESTClient().Post().Resource("pods").Namespace(ns).Name(pod).
		SubResource("exec").VersionedParams(&corev1.PodExecOptions{
		Container: "buildkitd", Command: []string{"/bin/sh", "-c", script}, Stdout: true, Stderr: true,
	}, scheme.ParameterCodec)
	exe, err := remotecommand.NewWebSocketExecutor(e.Config, "GET", req.URL().String())
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	var stdout, stderr bytes.Buffer
	if err := exe.StreamWithContext(ctx, remotecommand.StreamOptions{Stdout: &stdout, Stderr: &stderr}); err != nil {
		return "", fmt.Errorf("%w: %s", err, stderr.String())
	}
	return stdout.String(), nil
}
