package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	controlapi "github.com/moby/buildkit/api/services/control"
	bkclient "github.com/moby/buildkit/client"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// poll calls f every interval until it reports done, fails, or ctx ends.
func poll(ctx context.Context, interval time.Duration, what string, f func(context.Context) (bool, error)) error {
	for {
		done, err := f(ctx)
		if err != nil || done {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for %s: %w", what, ctx.Err())
		case <-time.After(interval):
		}
	}
}

// waitServiceAccount waits for the controller manager to create the namespace's default
// ServiceAccount; pods cannot be created before it exists.
func (e *Env) waitServiceAccount(ctx context.Context, namespace string) error {
	return poll(ctx, 50*time.Millisecond, "ServiceAccount/"+namespace+"/default", func(ctx context.Context) (bool, error) {
		_, err := e.clientset.CoreV1().ServiceAccounts(namespace).Get(ctx, "default", metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		return err == nil, err
	})
}

// canary runs one pod through kwok and the mapper: the first pods after kwok starts can take
// many seconds to turn Ready, and tests should not pay for that in their own timeouts. Every wait
// has its own timeout.
func (e *Env) canary(ctx context.Context) error {
	pods := e.clientset.CoreV1().Pods(metav1.NamespaceDefault)
	name := "testenv-canary-" + randSuffix()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PodSpec{
			NodeSelector: map[string]string{corev1.LabelHostname: NodeAMD64},
			Containers:   []corev1.Container{{Name: "buildkitd", Image: "moby/buildkit:buildx-stable-1"}},
		},
	}
	if err := e.step(ctx, "create Pod/default/"+name, 30*time.Second, func(ctx context.Context) error {
		_, err := pods.Create(ctx, pod, metav1.CreateOptions{})
		return err
	}, &e.cp.apiserver); err != nil {
		return err
	}
	// Ready means the mapper saw an exec into it work (ExecReadyAnnotation)
	if err := e.step(ctx, "canary Pod/default/"+name+" Ready", time.Minute, func(ctx context.Context) error {
		return poll(ctx, 20*time.Millisecond, "Pod/default/"+name+" Ready", func(ctx context.Context) (bool, error) {
			p, err := pods.Get(ctx, name, metav1.GetOptions{})
			return err == nil && podReady(p), err
		})
	}, &e.kwok, &e.cp.scheduler, &e.cp.apiserver); err != nil {
		return err
	}
	var d *daemon
	if err := e.step(ctx, "the mapper's buildkitd for Pod/default/"+name, 10*time.Second, func(ctx context.Context) (err error) {
		d, err = e.mapper.daemonFor(ctx, metav1.NamespaceDefault, name)
		return err
	}); err != nil {
		return err
	}
	if err := e.step(ctx, "exec into canary Pod/default/"+name+" reaches its buildkitd", time.Minute, func(ctx context.Context) error {
		if err := e.waitExec(ctx, metav1.NamespaceDefault, name, d.addr, nodePlatforms[NodeAMD64]); err != nil {
			return err
		}
		return d.wait(ctx)
	}, &e.kwok, &e.cp.apiserver); err != nil {
		return err
	}
	var zero int64
	return e.step(ctx, "delete Pod/default/"+name, 30*time.Second, func(ctx context.Context) error {
		return pods.Delete(ctx, name, metav1.DeleteOptions{GracePeriodSeconds: &zero})
	}, &e.cp.apiserver)
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// PodDaemon returns the address (unix://…) of the buildkitd that serves exec sessions into the
// pod, waiting until the environment has given the pod one. Tests use it to see which daemon did
// the work; connecting to it waits until the daemon is up.
func (e *Env) PodDaemon(ctx context.Context, namespace, pod string) (string, error) {
	var addr string
	err := poll(ctx, 20*time.Millisecond, "Exec/"+namespace+"/"+pod, func(ctx context.Context) (bool, error) {
		u, err := e.dynamic.Resource(execGVR).Namespace(namespace).Get(ctx, pod, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		addr, err = execBuildkitHost(u)
		return err == nil, err
	})
	return addr, err
}

func execBuildkitHost(u *unstructured.Unstructured) (string, error) {
	execs, _, _ := unstructured.NestedSlice(u.Object, "spec", "execs")
	for _, x := range execs {
		envs, _, _ := unstructured.NestedSlice(x.(map[string]any), "local", "envs")
		for _, env := range envs {
			if m, _ := env.(map[string]any); m["name"] == "BUILDKIT_HOST" {
				if v, _ := m["value"].(string); v != "" {
					return v, nil
				}
			}
		}
	}
	return "", fmt.Errorf("Exec/%s/%s: no BUILDKIT_HOST", u.GetNamespace(), u.GetName())
}

// CreateNamespace creates a namespace named after prefix plus a random suffix and waits until
// pods can be created in it (its default ServiceAccount exists).
func (e *Env) CreateNamespace(ctx context.Context, prefix string) (string, error) {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		Name:   dnsLabel(prefix, 50) + "-" + randSuffix(),
		Labels: map[string]string{"app.kubernetes.io/managed-by": fieldManager},
	}}
	if _, err := e.clientset.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
		return "", fmt.Errorf("create Namespace/%s: %w", ns.Name, err)
	}
	return ns.Name, e.waitServiceAccount(ctx, ns.Name)
}

// DeleteNamespace deletes a namespace without waiting for it to go.
func (e *Env) DeleteNamespace(ctx context.Context, name string) error {
	err := e.clientset.CoreV1().Namespaces().Delete(ctx, name, metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete Namespace/%s: %w", name, err)
	}
	return nil
}

// dnsLabel lowercases s, replaces what a DNS label cannot hold with '-', and cuts it to max.
func dnsLabel(s string, max int) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
		} else {
			b.WriteByte('-')
		}
	}
	out := b.String()
	if len(out) > max {
		out = out[:max]
	}
	out = strings.Trim(out, "-")
	if out == "" {
		out = "t"
	}
	return out
}

func randSuffix() string {
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// PodHistory returns the build history records of the buildkitd that serves pod ns/pod: every
// build, or only build ref when ref is not "". Tests read it to see which daemon built what, and
// with which frontend attributes.
func (e *Env) PodHistory(ctx context.Context, namespace, pod, ref string) ([]*controlapi.BuildHistoryRecord, error) {
	addr, err := e.PodDaemon(ctx, namespace, pod)
	if err != nil {
		return nil, err
	}
	c, err := bkclient.New(ctx, addr)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	stream, err := c.ControlClient().ListenBuildHistory(ctx, &controlapi.BuildHistoryRequest{EarlyExit: true, Ref: ref})
	if err != nil {
		return nil, fmt.Errorf("build history of %s/%s: %w", namespace, pod, err)
	}
	var out []*controlapi.BuildHistoryRecord
	for {
		ev, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("build history of %s/%s: %w", namespace, pod, err)
		}
		if r := ev.GetRecord(); r != nil && ev.GetType() != controlapi.BuildHistoryEventType_DELETED && (ref == "" || r.Ref == ref) {
			out = append(out, r)
		}
	}
}
