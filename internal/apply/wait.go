package apply

import (
	"context"
	"sort"
	"time"

	"github.com/fluxcd/cli-utils/pkg/kstatus/status"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/bkctl/bkctl/internal/diff"
	"github.com/bkctl/bkctl/internal/keys"
)

// progressInterval is how often a workload still waited for reports its status, when it changed.
const progressInterval = 2 * time.Second

// wait waits, each with its own timeout, for the workloads that the apply changed or that were
// not ready before it; the others cost no request. It is one wait for the whole set, driven by
// watches (see follow): a workload is ready as soon as the event that makes it so arrives.
func (m *Manager) wait(ctx context.Context, p *diff.Plan, res *Result, opts Options) error {
	var targets []*waitTarget
	for _, c := range p.Changes {
		if c.Desired == nil || (c.Ref.Kind != "Deployment" && c.Ref.Kind != "StatefulSet") {
			continue
		}
		if c.Pending() || !current(c.Live) {
			targets = append(targets, &waitTarget{ref: c.Ref, timeout: opts.Timeout(c.Ref)})
		}
	}
	if len(targets) == 0 {
		return nil
	}
	w := newWaiter(m, targets, res, opts)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	events := make(chan streamEvent, 256)
	selector := keys.LabelApplySetPartOf + "=" + p.Inventory.ID
	for key := range w.streams {
		sel := selector
		if key.resource == "pods" {
			sel = keys.LabelBuilder // every builder pod of the namespace: they carry their node in app
		}
		go m.follow(ctx, key, sel, events)
	}
	return w.run(ctx, events)
}

func current(live *unstructured.Unstructured) bool {
	if live == nil {
		return false
	}
	r, err := status.Compute(live)
	return err == nil && r.Status == status.CurrentStatus
}

// waitTarget is one workload waited for.
type waitTarget struct {
	ref      diff.Ref
	timeout  time.Duration
	deadline time.Time
	// seen is set once a list or event showed the object; rollout is then its last state.
	seen     bool
	gone     bool
	rollout  rollout
	reported string
	done     bool
}

// streamState is what the wait knows of one stream.
type streamState struct {
	opened bool     // its watch was opened once
	err    error    // the last failed list or watch, until one succeeds
	first  diff.Ref // the first workload that needs the stream, named by a refusal
}

// waiter is the state of one wait; only its run loop touches it.
type waiter struct {
	m          *Manager
	opts       Options
	res        *Result
	start      time.Time
	targets    map[streamKey]map[string]*waitTarget
	byDeadline []*waitTarget
	streams    map[streamKey]*streamState
	// pods holds, per namespace, node (label app) and pod, why the pod is not ready ("" if ready).
	pods      map[string]map[string]map[string]string
	remaining int
	failures  []WaitFailure
}

func newWaiter(m *Manager, targets []*waitTarget, res *Result, opts Options) *waiter {
	w := &waiter{
		m: m, opts: opts, res: res, start: time.Now(),
		targets: map[streamKey]map[string]*waitTarget{},
		streams: map[streamKey]*streamState{},
		pods:    map[string]map[string]map[string]string{},
	}
	for _, t := range targets {
		t.deadline = w.start.Add(t.timeout)
		key := streamKey{resourceOf(t.ref.Kind), t.ref.Namespace}
		if w.targets[key] == nil {
			w.targets[key] = map[string]*waitTarget{}
		}
		w.targets[key][t.ref.Name] = t
		for _, k := range []streamKey{key, {"pods", t.ref.Namespace}} {
			if s := w.streams[k]; s == nil || t.ref.String() < s.first.String() {
				w.streams[k] = &streamState{first: t.ref}
			}
		}
	}
	w.byDeadline = targets
	sort.SliceStable(w.byDeadline, func(i, j int) bool { return w.byDeadline[i].deadline.Before(w.byDeadline[j].deadline) })
	w.remaining = len(targets)
	return w
}

// run handles the streams' events until every target is ready or timed out, a stream is refused,
// or ctx ends. It ends only once every stream has opened its watch or failed: a wait whose
// workloads are ready at once must still find out whether it may list and watch, as a slow one
// would.
func (w *waiter) run(ctx context.Context, events <-chan streamEvent) error {
	for _, t := range w.byDeadline {
		w.opts.Progress(Event{Type: EventWaiting, Ref: t.ref, Message: "timeout " + t.timeout.String()})
	}
	progress := time.NewTicker(progressInterval)
	defer progress.Stop()
	next := 0 // byDeadline[next:] have not reached their deadline
	deadline := time.NewTimer(time.Until(w.byDeadline[0].deadline))
	defer deadline.Stop()
	for w.remaining > 0 || !w.started() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case e := <-events:
			if e.err != nil && refused(e.err) {
				return &ObjectError{Ref: w.streams[e.key].first, Op: "wait for rollout", Err: w.m.clusterErr(e.err, needWait)}
			}
			w.handle(e)
		case <-progress.C:
			w.report()
		case now := <-deadline.C:
			for ; next < len(w.byDeadline) && !w.byDeadline[next].deadline.After(now); next++ {
				if t := w.byDeadline[next]; !t.done {
					w.fail(t)
				}
			}
			if next < len(w.byDeadline) {
				deadline.Reset(time.Until(w.byDeadline[next].deadline))
			}
		}
	}
	if len(w.failures) > 0 {
		sort.Slice(w.failures, func(i, j int) bool { return w.failures[i].Ref.String() < w.failures[j].Ref.String() })
		return &WaitError{Failures: w.failures, Waited: len(w.byDeadline)}
	}
	return nil
}

func (w *waiter) started() bool {
	for _, s := range w.streams {
		if !s.opened && s.err == nil {
			return false
		}
	}
	return true
}

// handle takes one stream event into the wait's state.
func (w *waiter) handle(e streamEvent) {
	s := w.streams[e.key]
	if e.err != nil {
		s.err = e.err
		return
	}
	s.err = nil
	if e.open {
		s.opened = true
		return
	}
	if e.key.resource == "pods" {
		w.handlePods(e)
		return
	}
	targets := w.targets[e.key]
	if e.list {
		for _, t := range targets {
			t.gone = true // until the list shows it
		}
		for _, o := range e.items {
			w.update(targets, o, false)
		}
		for _, t := range targets {
			if t.gone && !t.done {
				t.seen = true
			}
		}
		return
	}
	w.update(targets, e.obj, e.typ == watch.Deleted)
}

// update computes the rollout of one workload and reports it ready when it is.
func (w *waiter) update(targets map[string]*waitTarget, obj runtime.Object, deleted bool) {
	o, err := meta.Accessor(obj)
	if err != nil {
		return
	}
	t := targets[o.GetName()]
	if t == nil || t.done {
		return
	}
	t.seen, t.gone = true, deleted
	if deleted {
		return
	}
	if r, ok := rolloutOf(obj); ok {
		t.rollout = r
	}
	if t.rollout.status == status.CurrentStatus {
		t.done = true
		w.remaining--
		w.res.Ready = append(w.res.Ready, t.ref)
		w.opts.Progress(Event{Type: EventReady, Ref: t.ref, Elapsed: time.Since(w.start)})
	}
}

func (w *waiter) handlePods(e streamEvent) {
	ns := e.key.namespace
	if e.list {
		w.pods[ns] = map[string]map[string]string{}
		for _, o := range e.items {
			w.setPod(ns, o.(*corev1.Pod), false)
		}
		return
	}
	if pod, ok := e.obj.(*corev1.Pod); ok {
		w.setPod(ns, pod, e.typ == watch.Deleted)
	}
}

func (w *waiter) setPod(ns string, pod *corev1.Pod, deleted bool) {
	node := pod.Labels[keys.LabelApp]
	byNode := w.pods[ns]
	if byNode == nil {
		byNode = map[string]map[string]string{}
		w.pods[ns] = byNode
	}
	if deleted {
		delete(byNode[node], pod.Name)
		return
	}
	if byNode[node] == nil {
		byNode[node] = map[string]string{}
	}
	byNode[node][pod.Name] = podTrouble(pod)
}

// describe returns a workload's kstatus status and message, completed with why its first pod
// that is not ready is not, or why its controller cannot create pods; "" before it was seen.
func (w *waiter) describe(t *waitTarget) (string, string) {
	switch {
	case !t.seen:
		return "", ""
	case t.gone:
		return string(status.NotFoundStatus), "not found"
	}
	msg := t.rollout.message
	pods := w.pods[t.ref.Namespace][t.ref.Name]
	names := make([]string, 0, len(pods))
	for n := range pods {
		names = append(names, n)
	}
	sort.Strings(names)
	why := ""
	for _, n := range names {
		if why = pods[n]; why != "" {
			break
		}
	}
	if len(pods) == 0 {
		why = t.rollout.replicaFailure
	}
	if why != "" {
		msg += "; " + why
	}
	return string(t.rollout.status), msg
}

// report sends the status of each workload still waited for, when it changed.
func (w *waiter) report() {
	for _, t := range w.byDeadline {
		if t.done {
			continue
		}
		st, msg := w.describe(t)
		if st == "" {
			continue
		}
		if s := st + ": " + msg; s != t.reported {
			t.reported = s
			w.opts.Progress(Event{Type: EventWaiting, Ref: t.ref, Message: s, Elapsed: time.Since(w.start)})
		}
	}
}

// fail records a workload that did not become ready in time.
func (w *waiter) fail(t *waitTarget) {
	t.done = true
	w.remaining--
	st, msg := w.describe(t)
	if st == "" {
		st, msg = string(status.UnknownStatus), "no status was read"
		if s := w.streams[streamKey{resourceOf(t.ref.Kind), t.ref.Namespace}]; s.err != nil {
			msg += ": " + w.m.clusterErr(s.err, needWait).Error()
		}
	}
	w.failures = append(w.failures, WaitFailure{Ref: t.ref, Status: st, Message: msg, Timeout: t.timeout})
	w.opts.Progress(Event{Type: EventFailed, Ref: t.ref, Message: msg, Status: st, Elapsed: time.Since(w.start)})
}
