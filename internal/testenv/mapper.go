package testenv

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
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
// It acts when the pod is bound to a node, before kwok reports it Running, so the Exec object
// and the daemon's socket exist by the time a client sees the pod Ready.
type mapper struct {
	env    *Env
	log    io.Writer
	linger time.Duration

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
}

func newMapper(e *Env, log io.Writer, linger time.Duration) *mapper {
	return &mapper{env: e, log: log, linger: linger, pods: map[string]*podDaemon{}}
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
		err := m.ensure(ctx, pod.Namespace, pod.Name, platform)
		if err != nil && !apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
			fmt.Fprintf(m.log, "testenv: pod %s/%s: %v\n", pod.Namespace, pod.Name, err)
		}
	}
}

// ensure gives the pod a running daemon of platform and the Exec object that points at it.
func (m *mapper) ensure(ctx context.Context, namespace, name, platform string) error {
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
	if pd.execApplied {
		return nil
	}
	if err := m.applyExec(ctx, namespace, name, pd.addr); err != nil {
		return err
	}
	pd.execApplied = true
	return nil
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
