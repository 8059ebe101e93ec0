package apply

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/fluxcd/cli-utils/pkg/kstatus/status"
	"github.com/fluxcd/cli-utils/pkg/object"
	"github.com/fluxcd/pkg/ssa"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bkctl/bkctl/internal/diff"
	"github.com/bkctl/bkctl/internal/render"
)

// Poll intervals: kstatus's readiness poll, and the slower one that reports progress.
const (
	pollInterval     = 250 * time.Millisecond
	progressInterval = 2 * time.Second
)

// wait waits, each with its own timeout, for the workloads that the apply changed or that were
// not ready before it; the others cost no request.
func (m *Manager) wait(ctx context.Context, p *diff.Plan, res *Result, opts Options) error {
	var targets []diff.Change
	for _, c := range p.Changes {
		if c.Desired == nil || (c.Ref.Kind != "Deployment" && c.Ref.Kind != "StatefulSet") {
			continue
		}
		if c.Pending() || !current(c.Live) {
			targets = append(targets, c)
		}
	}
	var (
		mu       sync.Mutex
		failures []WaitFailure
		wg       sync.WaitGroup
	)
	var refusals []error
	for _, c := range targets {
		wg.Go(func() {
			f, err := m.waitOne(ctx, c.Ref, opts)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil:
				refusals = append(refusals, err)
			case f != nil:
				failures = append(failures, *f)
			default:
				res.Ready = append(res.Ready, c.Ref)
			}
		})
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return err
	}
	if len(refusals) > 0 {
		sort.Slice(refusals, func(i, j int) bool { return refusals[i].Error() < refusals[j].Error() })
		return errors.Join(refusals...)
	}
	if len(failures) > 0 {
		sort.Slice(failures, func(i, j int) bool { return failures[i].Ref.String() < failures[j].Ref.String() })
		return &WaitError{Failures: failures, Waited: len(targets)}
	}
	return nil
}

func current(live *unstructured.Unstructured) bool {
	if live == nil {
		return false
	}
	r, err := status.Compute(live)
	return err == nil && r.Status == status.CurrentStatus
}

// waitOne waits for one workload. It returns the failure of a workload that did not become
// ready in time, or the error of a read the API server refused, which ends the wait at once.
func (m *Manager) waitOne(ctx context.Context, ref diff.Ref, opts Options) (*WaitFailure, error) {
	timeout := opts.Timeout(ref)
	start := time.Now()
	opts.Progress(Event{Type: EventWaiting, Ref: ref, Message: fmt.Sprintf("timeout %s", timeout)})
	id := object.ObjMetadata{Namespace: ref.Namespace, Name: ref.Name, GroupKind: schema.GroupKind{Group: ref.Group, Kind: ref.Kind}}

	progressCtx, stop := context.WithCancel(ctx)
	defer stop()
	go m.reportProgress(progressCtx, ref, start, opts)

	waitCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	guard := &accessGuard{cancel: cancel}
	rm := ssa.NewResourceManager(m.client, guard.poller(m.client), m.owner)
	err := rm.WaitForSetWithContext(waitCtx, object.ObjMetadataSet{id}, ssa.WaitOptions{Interval: pollInterval, Timeout: timeout})
	stop()
	if refusal := guard.refusal(); refusal != nil {
		return nil, &ObjectError{Ref: ref, Op: "wait for rollout", Err: m.clusterErr(refusal, needWait)}
	}
	if err == nil {
		opts.Progress(Event{Type: EventReady, Ref: ref, Elapsed: time.Since(start)})
		return nil, nil
	}
	if errors.Is(err, context.Canceled) {
		return nil, nil // the caller reports ctx.Err()
	}
	st, msg := m.describe(context.WithoutCancel(ctx), ref)
	if st == "" {
		st, msg = "Unknown", err.Error()
	}
	f := &WaitFailure{Ref: ref, Status: st, Message: msg, Timeout: timeout}
	opts.Progress(Event{Type: EventFailed, Ref: ref, Message: msg, Status: st, Elapsed: time.Since(start)})
	return f, nil
}

func (m *Manager) reportProgress(ctx context.Context, ref diff.Ref, start time.Time, opts Options) {
	t := time.NewTicker(progressInterval)
	defer t.Stop()
	last := ""
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		st, msg := m.describe(ctx, ref)
		if ctx.Err() != nil || st == "" {
			return
		}
		if s := st + ": " + msg; s != last {
			last = s
			opts.Progress(Event{Type: EventWaiting, Ref: ref, Message: s, Elapsed: time.Since(start)})
		}
	}
}

// describe returns the kstatus status of a workload and its message, completed with why a pod
// is not ready (unschedulable, image pull, crash) when one is not.
func (m *Manager) describe(ctx context.Context, ref diff.Ref) (string, string) {
	obj := &unstructured.Unstructured{}
	obj.SetGroupVersionKind(schema.GroupVersionKind{Group: ref.Group, Version: ref.Version, Kind: ref.Kind})
	if err := m.client.Get(ctx, client.ObjectKey{Namespace: ref.Namespace, Name: ref.Name}, obj); err != nil {
		return "", ""
	}
	r, err := status.Compute(obj)
	if err != nil {
		return "", ""
	}
	msg := r.Message
	if why := m.podTrouble(ctx, ref); why != "" {
		msg += "; " + why
	}
	return string(r.Status), msg
}

// podTrouble returns why the first not-ready pod of a node is not ready, or "".
func (m *Manager) podTrouble(ctx context.Context, ref diff.Ref) string {
	list := &unstructured.UnstructuredList{}
	list.SetAPIVersion("v1")
	list.SetKind("PodList")
	if err := m.client.List(ctx, list, client.InNamespace(ref.Namespace), client.MatchingLabels{render.LabelApp: ref.Name}); err != nil {
		return ""
	}
	for _, pod := range list.Items {
		conds, _, _ := unstructured.NestedSlice(pod.Object, "status", "conditions")
		var reasons []string
		ready := false
		for _, c := range conds {
			cm, _ := c.(map[string]any)
			if cm["type"] == "Ready" && cm["status"] == "True" {
				ready = true
			}
			if cm["type"] == "PodScheduled" && cm["status"] == "False" {
				reasons = append(reasons, fmt.Sprintf("%v: %v", cm["reason"], schedulerMessage(fmt.Sprint(cm["message"]))))
			}
		}
		if ready {
			continue
		}
		css, _, _ := unstructured.NestedSlice(pod.Object, "status", "containerStatuses")
		for _, cs := range css {
			if w, ok, _ := unstructured.NestedMap(cs.(map[string]any), "state", "waiting"); ok {
				reasons = append(reasons, fmt.Sprintf("%v: %v", w["reason"], w["message"]))
			}
		}
		phase, _, _ := unstructured.NestedString(pod.Object, "status", "phase")
		if len(reasons) > 0 {
			return fmt.Sprintf("pod %s %s: %s", pod.GetName(), phase, strings.Join(reasons, "; "))
		}
		return fmt.Sprintf("pod %s %s, not ready", pod.GetName(), phase)
	}
	if len(list.Items) == 0 && ref.Kind == "Deployment" {
		return m.replicaFailure(ctx, ref)
	}
	return ""
}

// replicaFailure returns why a Deployment's ReplicaSet cannot create pods (admission refused
// them, e.g. for Pod Security, or a quota is exhausted), or "".
func (m *Manager) replicaFailure(ctx context.Context, ref diff.Ref) string {
	list := &unstructured.UnstructuredList{}
	list.SetAPIVersion("apps/v1")
	list.SetKind("ReplicaSetList")
	if err := m.client.List(ctx, list, client.InNamespace(ref.Namespace), client.MatchingLabels{render.LabelApp: ref.Name}); err != nil {
		return ""
	}
	for _, rs := range list.Items {
		conds, _, _ := unstructured.NestedSlice(rs.Object, "status", "conditions")
		for _, c := range conds {
			cm, _ := c.(map[string]any)
			if cm["type"] == "ReplicaFailure" && cm["status"] == "True" {
				return fmt.Sprintf("ReplicaSet %s: %v: %v", rs.GetName(), cm["reason"], cm["message"])
			}
		}
	}
	return ""
}

// schedulerMessage drops what the scheduler says about preemption from why a pod is
// unschedulable: builder pods have no priority, so it is always "not helpful".
func schedulerMessage(msg string) string {
	if i := strings.Index(msg, " preemption: "); i > 0 {
		return msg[:i]
	}
	return msg
}
