package apply

import (
	"context"
	"time"

	"golang.org/x/sync/errgroup"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bkctl/bkctl/internal/diff"
	"github.com/bkctl/bkctl/internal/render"
)

// Options configure Apply.
type Options struct {
	// ForceConflicts takes over fields that other appliers own; without it a conflict stops the
	// apply before anything is written.
	ForceConflicts bool
	// ForceReplace deletes and recreates the objects the plan replaces (immutable fields, a node
	// switching kind); without it a replace stops the apply before anything is written.
	ForceReplace bool
	// Prune deletes the members the file no longer renders, after every apply succeeded.
	Prune bool
	// Foreground prunes with foreground propagation: a pruned workload exists until its
	// ReplicaSets and pods are gone, so that waiting for it (WaitGone) waits for its pods too.
	Foreground bool
	// PrunePVCs also deletes the volume claims of pruned StatefulSets (kept by default: they
	// hold the build cache).
	PrunePVCs bool
	// Wait waits for every created, updated or not yet ready workload to roll out.
	Wait bool
	// Timeout returns how long to wait for one workload (the node's timeout).
	Timeout func(diff.Ref) time.Duration
	// Progress receives events as they happen; nil drops them.
	Progress func(Event)
}

// DefaultOptions returns prune and wait on, force off, and a two-minute timeout.
func DefaultOptions() Options {
	return Options{Prune: true, Wait: true, Timeout: func(diff.Ref) time.Duration { return 2 * time.Minute }}
}

// Result is what an apply did.
type Result struct {
	Plan *diff.Plan
	// Applied are the objects written, with the action the plan gave them.
	Applied []diff.Change
	// Pruned are the members deleted; PVCs are the claims deleted with --prune-pvcs.
	Pruned []diff.Ref
	PVCs   []diff.Ref
	// Replaced are the objects deleted to be created again (--force-replace).
	Replaced []diff.Ref
	// Ready are the workloads waited for that rolled out.
	Ready []diff.Ref
}

// InSync reports whether the apply found nothing to change.
func (r *Result) InSync() bool { return !r.Plan.Pending() }

// Apply makes the cluster match p, a plan from Plan or PlanDelete: it stops on conflicts and
// replaces unless forced, widens the inventory first, applies the changed objects (namespaces first, and only
// those whose dry-run differs from live, so an apply of an unchanged file writes nothing),
// deleting first what a forced replace recreates, prunes, narrows the inventory and records what was applied in it, and waits for rollouts.
func (m *Manager) Apply(ctx context.Context, set render.ApplySetRef, p *diff.Plan, opts Options) (*Result, error) {
	if opts.Progress == nil {
		opts.Progress = func(Event) {}
	}
	if opts.Timeout == nil {
		opts.Timeout = DefaultOptions().Timeout
	}
	res := &Result{Plan: p}
	if cs := p.Conflicts(); len(cs) > 0 && !opts.ForceConflicts {
		return res, &ConflictError{Changes: cs}
	}
	if rs := p.Replaces(); len(rs) > 0 && !opts.ForceReplace {
		return res, &ReplaceError{Changes: rs}
	}
	rec := inventory{groupKinds: p.Inventory.RecordedGroupKinds, namespaces: p.Inventory.RecordedNamespaces}
	want := inventory{groupKinds: p.Inventory.GroupKinds, namespaces: p.Inventory.Namespaces}
	deleting := p.Inventory.Action == diff.Prune
	// The records of the objects that stay unchanged; applied ones are added as they are written.
	applied := records{}
	for _, c := range p.Changes {
		if c.Desired != nil && !c.Pending() && !c.Applied.IsZero() {
			applied[keyOf(c.Desired)] = c.Applied
		}
	}

	// The parent must record every member before one is created (KEP-3659), so that a failed
	// run can still find and prune it. It lives in metadata.namespace, which the file may create
	// itself: that one namespace is applied before the parent.
	if !deleting && p.Inventory.Action != diff.Unchanged && !rec.covers(want) {
		parentNamespace := func(c diff.Change) bool { return c.Ref.Kind == "Namespace" && c.Ref.Name == set.ParentNamespace }
		if err := m.applyChanges(ctx, p, res, applied, opts, parentNamespace); err != nil {
			return res, &StepError{Step: StepApply, Err: err}
		}
		if err := m.writeParent(ctx, set, rec.union(want), applied); err != nil {
			return res, &StepError{Step: StepApply, Err: err}
		}
	}
	if err := m.replace(ctx, p, res, opts); err != nil {
		return res, &StepError{Step: StepApply, Err: err}
	}
	if err := m.applyChanges(ctx, p, res, applied, opts, applyStages...); err != nil {
		return res, &StepError{Step: StepApply, Err: err}
	}
	// From here a failure or an interrupt may leave the prunes half done: prune stops at the
	// first, and the inventory is narrowed only once all succeeded, so the next apply still finds
	// the members left and prunes them.
	final := want
	if opts.Prune {
		if err := m.prune(ctx, set, p, res, opts); err != nil {
			return res, &StepError{Step: StepPrune, Err: err}
		}
	} else {
		final = rec.union(want)
	}
	wrote := len(res.Applied) > 0 || len(res.Pruned) > 0
	switch {
	case deleting && opts.Prune:
		if err := m.deleteParent(ctx, set); err != nil {
			return res, &StepError{Step: StepInventory, Err: err}
		}
		opts.Progress(Event{Type: EventPruned, Ref: parentRef(set)})
	case !deleting && (p.Inventory.Action != diff.Unchanged || wrote):
		if err := m.writeParent(ctx, set, final, applied); err != nil {
			return res, &StepError{Step: StepInventory, Err: err}
		}
	}
	if opts.Wait {
		if err := m.wait(ctx, p, res, opts); err != nil {
			return res, &StepError{Step: StepWait, Err: err}
		}
	}
	return res, nil
}

// applyStages are applied one after the other: a namespace must exist before what lives in it,
// a ConfigMap before the pods that mount it.
var applyStages = []func(diff.Change) bool{
	func(c diff.Change) bool { return c.Ref.Kind == "Namespace" },
	func(c diff.Change) bool { return c.Ref.Kind == "ConfigMap" },
	func(c diff.Change) bool { return c.Ref.Kind != "Namespace" && c.Ref.Kind != "ConfigMap" },
}

// applyChanges applies the pending objects of p that are not applied yet, a stage at a time and
// concurrently within one, with a forced server-side apply: the plan's forced dry-run already
// showed what that changes, and conflicts were refused before. Each apply's record is added to
// applied.
func (m *Manager) applyChanges(ctx context.Context, p *diff.Plan, res *Result, applied records, opts Options, stages ...func(diff.Change) bool) error {
	for _, inStage := range stages {
		var changes []diff.Change
		for _, c := range p.Changes {
			if c.Desired == nil || !c.Pending() || !inStage(c) {
				continue
			}
			if _, done := applied[keyOf(c.Desired)]; !done {
				changes = append(changes, c)
			}
		}
		recs := make([]diff.Applied, len(changes))
		g, failed := errgroup.WithContext(ctx)
		g.SetLimit(m.opts.Concurrency)
		for i, c := range changes {
			g.Go(func() error {
				if err := failed.Err(); err != nil {
					return err // an apply failed: start no more
				}
				// Requests in flight are not cancelled by another's failure (only by ctx): their
				// outcome is then known, and what the run applied is reported as it is.
				obj := c.Desired.DeepCopy()
				err := m.client.Patch(ctx, obj, client.Apply, client.ForceOwnership, client.FieldOwner(m.opts.FieldManager))
				if err != nil {
					return &ObjectError{Ref: c.Ref, Op: "apply", Err: m.clusterErr(err, needApply)}
				}
				recs[i] = diff.Applied{Config: diff.ConfigHash(c.Desired), Fields: diff.FieldsHash(obj, m.opts.FieldManager)}
				return nil
			})
		}
		err := g.Wait()
		for i, c := range changes {
			if recs[i] == (diff.Applied{}) {
				continue // not applied
			}
			applied[keyOf(c.Desired)] = recs[i]
			res.Applied = append(res.Applied, c)
			opts.Progress(Event{Type: EventApplied, Ref: c.Ref, Action: c.Action})
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (m *Manager) writeParent(ctx context.Context, set render.ApplySetRef, in inventory, recs records) error {
	obj := m.parentObject(set, in, recs)
	err := m.client.Patch(ctx, obj, client.Apply, client.ForceOwnership, client.FieldOwner(m.opts.FieldManager))
	if err != nil {
		return &ObjectError{Ref: parentRef(set), Op: "apply inventory", Err: m.clusterErr(err, needRecord)}
	}
	return nil
}

func (m *Manager) deleteParent(ctx context.Context, set render.ApplySetRef) error {
	obj := m.parentObject(set, inventory{}, nil)
	if err := client.IgnoreNotFound(m.client.Delete(ctx, obj)); err != nil {
		return &ObjectError{Ref: parentRef(set), Op: "delete inventory", Err: m.clusterErr(err, needDropRecord)}
	}
	return nil
}
