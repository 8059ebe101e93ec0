package testenv

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"
)

// mapper gives every pod scheduled on a kwok node its own buildkitd: it makes the daemon's socket
// and creates kwok's Exec object named after the pod, so that `kubectl exec POD -- buildctl
// dial-stdio` runs buildctl on this host with BUILDKIT_HOST set to that socket; the daemon
// itself starts with the first connection.
//
// It acts when the pod is bound to a node, before kwok reports it Running: it creates the Exec
// object and the daemon's socket, then probes an exec into the pod through the apiserver until
// kwok serves the Exec with this daemon's address, and only then sets ExecReadyAnnotation, which
// kwok's pod-ready stage waits for. So once a client sees the pod Ready, exec into it works.
type mapper struct {
	env    *Env
	log    io.Writer
	linger time.Duration
	probes chan struct{} // bounds the probes that run at once

	mu      sync.Mutex
	next    int
	pods    map[string]*podDaemon // namespace/name
	stopped bool
	wg      sync.WaitGroup
}

type podDaemon struct {
	*daemon
	execApplied bool
	linger      *time.Timer
	// probeUID is the pod whose exec is being probed, or was found to work; a pod recreated
	// under the same name has another UID and is probed again.
	probeUID    types.UID
	cancelProbe context.CancelFunc
}

// probeTimeout bounds how long the mapper tries to see an exec into one pod work; the pod stays
// Pending (and the reason is logged) if it never does.
const probeTimeout = 2 * time.Minute

func newMapper(e *Env, log io.Writer, linger time.Duration) *mapper {
	return &mapper{env: e, log: log, linger: linger, pods: map[string]*podDaemon{}, probes: make(chan struct{}, 8)}
}

// run watches pods until ctx ends; it returns once the informer has synced, or syncCtx ends.
func (m *mapper) run(ctx, syncCtx context.Context) error {
	factory := informers.NewSharedInformerFactory(m.env.clientset, 0)
	inf := factory.Core().V1().Pods().Informer()
	if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { m.sync(ctx, obj) },
		UpdateFunc: func(_, obj any) { m.sync(ctx, obj) },
		DeleteFunc: func(obj any) {
			if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = t.Obj
			}
			if pod, ok := obj.(*corev1.Pod); ok {
				m.release(ctx, pod.Namespace, pod.Name)
			}
		},
	}); err != nil {
		return err
	}
	factory.Start(ctx.Done())
	if !cache.WaitForCacheSync(syncCtx.Done(), inf.HasSynced) {
		return fmt.Errorf("sync pod informer: %w", syncCtx.Err())
	}
	return nil
}

func (m *mapper) sync(ctx context.Context, obj any) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	platform, onKwok := nodePlatforms[pod.Spec.NodeName]
	switch {
	case !onKwok:
		return
	case pod.DeletionTimestamp != nil, pod.Status.Phase == corev1.PodSucceeded, pod.Status.Phase == corev1.PodFailed:
		m.release(ctx, pod.Namespace, pod.Name)
	default:
		err := m.ensure(ctx, pod, platform)
		if err != nil && !apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
			fmt.Fprintf(m.log, "testenv: pod %s/%s: %v\n", pod.Namespace, pod.Name, err)
		}
	}
}

// ensure gives the pod a running daemon of platform and the Exec object that points at it.
// Until the pod carries ExecReadyAnnotation, a probe runs for it.
func (m *mapper) ensure(ctx context.Context, pod *corev1.Pod, platform string) error {
	namespace, name := pod.Namespace, pod.Name
	key := namespace + "/" + name
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.stopped || ctx.Err() != nil {
		return nil
	}
	pd := m.pods[key]
	if pd != nil && pd.platform != platform { // same name, rescheduled to the other architecture
		m.stopLocked(key, pd)
		pd = nil
	}
	if pd == nil {
		// the Exec object first: no daemon for a pod whose namespace is already going away
		m.next++
		dn := daemonName(m.next)
		if err := m.applyExec(ctx, namespace, name, m.env.daemonAddr(dn)); err != nil {
			return err
		}
		d, err := m.env.newDaemon(dn, platform, true)
		if err != nil {
			return err
		}
		pd = &podDaemon{daemon: d, execApplied: true}
		m.pods[key] = pd
		fmt.Fprintf(m.log, "testenv: pod %s on %s: buildkitd %s at %s (starts on first use)\n", key, platform, d.name, d.addr)
	}
	if pd.linger != nil {
		pd.linger.Stop()
		pd.linger = nil
	}
	if !pd.execApplied {
		if err := m.applyExec(ctx, namespace, name, pd.addr); err != nil {
			return err
		}
		pd.execApplied = true
	}
	if pod.Annotations[ExecReadyAnnotation] != "true" && pd.probeUID != pod.UID {
		if pd.cancelProbe != nil {
			pd.cancelProbe()
		}
		pctx, cancel := context.WithTimeout(ctx, probeTimeout)
		pd.probeUID, pd.cancelProbe = pod.UID, cancel
		container := pod.Spec.Containers[0].Name
		addr, uid := pd.addr, pod.UID
		m.wg.Go(func() {
			defer cancel()
			// a probe cancelled because the pod went away says nothing
			if err := m.probe(pctx, namespace, name, uid, container, addr); err != nil && !errors.Is(err, context.Canceled) {
				fmt.Fprintf(m.log, "testenv: pod %s stays Pending: %v\n", key, err)
			}
		})
	}
	return nil
}

// probe execs into the pod through the apiserver until the command runs on this host with the
// pod's daemon address, then sets ExecReadyAnnotation on the pod (kwok then makes it Ready). Each
// failed try touches the Exec object: kwok's cache of Exec objects is keyed by the informer's
// last resource version and may hold a list read before the Exec arrived, until the next event.
func (m *mapper) probe(ctx context.Context, namespace, name string, uid types.UID, container, addr string) error {
	select {
	case m.probes <- struct{}{}:
		defer func() { <-m.probes }()
	case <-ctx.Done():
		return fmt.Errorf("probe exec into Pod/%s/%s: %w", namespace, name, ctx.Err())
	}
	var last error
	backoff := 10 * time.Millisecond
	for try := 1; ; try++ {
		tctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		out, err := m.env.execOutput(tctx, namespace, name, container, "/bin/sh", "-c", `echo "$BUILDKIT_HOST"`)
		cancel()
		if err == nil && strings.TrimSpace(out) != addr {
			err = fmt.Errorf("exec into Pod/%s/%s reached BUILDKIT_HOST=%q, want %q", namespace, name, strings.TrimSpace(out), addr)
		}
		if err == nil {
			err = m.markExecReady(ctx, namespace, name, uid)
			if err == nil || apierrors.IsNotFound(err) || apierrors.IsConflict(err) || apierrors.IsInvalid(err) {
				if try > 1 {
					fmt.Fprintf(m.log, "testenv: pod %s/%s: exec works after %d tries (last error: %v)\n", namespace, name, try, last)
				}
				return nil // a gone or replaced pod (its uid is immutable) needs nothing more
			}
		} else {
			m.nudgeExec(ctx, namespace, name, try)
		}
		last = err
		select {
		case <-ctx.Done():
			return fmt.Errorf("probe exec into Pod/%s/%s (%d tries): %w; last error: %v", namespace, name, try, ctx.Err(), last)
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 500*time.Millisecond)
	}
}

// markExecReady sets ExecReadyAnnotation on the pod, if it is still the pod with uid.
func (m *mapper) markExecReady(ctx context.Context, namespace, name string, uid types.UID) error {
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{
		"uid":         uid, // a pod recreated under the same name refuses the patch
		"annotations": map[string]string{ExecReadyAnnotation: "true"},
	}})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_, err = m.env.clientset.CoreV1().Pods(namespace).Patch(ctx, name, types.MergePatchType, patch, metav1.PatchOptions{})
	if err != nil {
		return fmt.Errorf("annotate Pod/%s/%s: %w", namespace, name, err)
	}
	return nil
}

// nudgeExec changes an annotation of the pod's Exec object, so that kwok's informer sees an
// event and kwok reads its list of Exec objects again.
func (m *mapper) nudgeExec(ctx context.Context, namespace, name string, try int) {
	patch := fmt.Sprintf(`{"metadata":{"annotations":{"testenv.bkctl.io/nudge":"%d"}}}`, try)
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_, _ = m.env.dynamic.Resource(execGVR).Namespace(namespace).Patch(ctx, name, types.MergePatchType, []byte(patch), metav1.PatchOptions{})
}

func (m *mapper) applyExec(ctx context.Context, namespace, name, addr string) error {
	obj := map[string]any{
		"apiVersion": "kwok.x-k8s.io/v1alpha1",
		"kind":       "Exec",
		"metadata": map[string]any{
			"name": name, "namespace": namespace,
			"labels": map[string]any{"app.kubernetes.io/managed-by": fieldManager},
		},
		"spec": map[string]any{"execs": []any{map[string]any{
			"local": map[string]any{"envs": []any{map[string]any{"name": "BUILDKIT_HOST", "value": addr}}},
		}}},
	}
	b, err := json.Marshal(obj)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	force := true
	_, err = m.env.dynamic.Resource(execGVR).Namespace(namespace).Patch(ctx, name, types.ApplyPatchType, b,
		metav1.PatchOptions{FieldManager: fieldManager, Force: &force})
	if err != nil {
		return fmt.Errorf("apply Exec/%s/%s: %w", namespace, name, err)
	}
	return nil
}

// release deletes the pod's Exec object and stops its daemon after the linger time, unless a pod
// of the same name comes back first (a StatefulSet pod keeps its daemon and its cache).
func (m *mapper) release(ctx context.Context, namespace, name string) {
	key := namespace + "/" + name
	m.mu.Lock()
	defer m.mu.Unlock()
	pd := m.pods[key]
	if pd == nil || m.stopped || ctx.Err() != nil {
		return
	}
	if pd.cancelProbe != nil {
		pd.cancelProbe()
		pd.cancelProbe, pd.probeUID = nil, ""
	}
	if pd.execApplied {
		pd.execApplied = false
		err := m.env.dynamic.Resource(execGVR).Namespace(namespace).Delete(ctx, name, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			fmt.Fprintf(m.log, "testenv: delete Exec/%s: %v\n", key, err)
		}
	}
	if pd.linger == nil {
		pd.linger = time.AfterFunc(m.linger, func() {
			m.mu.Lock()
			defer m.mu.Unlock()
			if m.pods[key] == pd && pd.linger != nil && !m.stopped {
				m.stopLocked(key, pd)
			}
		})
	}
}

func (m *mapper) stopLocked(key string, pd *podDaemon) {
	delete(m.pods, key)
	if pd.linger != nil {
		pd.linger.Stop()
	}
	if pd.cancelProbe != nil {
		pd.cancelProbe()
	}
	m.wg.Go(func() {
		if err := pd.stop(); err != nil {
			fmt.Fprintf(m.log, "testenv: stop buildkitd %s: %v\n", pd.name, err)
		}
	})
}

// daemonFor returns the daemon of a pod once the mapper has one.
func (m *mapper) daemonFor(ctx context.Context, namespace, name string) (*daemon, error) {
	for {
		m.mu.Lock()
		pd := m.pods[namespace+"/"+name]
		m.mu.Unlock()
		if pd != nil {
			return pd.daemon, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("wait for the buildkitd of pod %s/%s: %w", namespace, name, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// stop ends every daemon and waits for them.
func (m *mapper) stop() {
	m.mu.Lock()
	m.stopped = true
	for key, pd := range m.pods {
		m.stopLocked(key, pd)
	}
	m.mu.Unlock()
	m.wg.Wait()
}
