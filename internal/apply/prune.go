package apply

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/fluxcd/pkg/ssa"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bkctl/bkctl/internal/diff"
	"github.com/bkctl/bkctl/internal/keys"
	"github.com/bkctl/bkctl/internal/render"
)

// claimTemplateName is the volume claim template of a StatefulSet node (render's state volume):
// its claims are named "<template>-<statefulset>-<ordinal>".
const claimTemplateName = "buildkitd"

// prune deletes the plan's prunes, one at a time in reverse apply order (workloads before the
// ConfigMaps they mount, namespaces last). The delete requires the part-of label still to match,
// so an object that stopped being a member since the plan is never touched. It stops at the first
// failure, or when ctx ends, with the error of that one object: the caller then keeps the
// inventory as it was, so the members left are found and pruned by the next apply.
func (m *Manager) prune(ctx context.Context, set render.ApplySetRef, p *diff.Plan, res *Result, opts Options) error {
	var objs []*unstructured.Unstructured
	for _, c := range p.Changes {
		if c.Action == diff.Prune && !slices.Contains(res.Replaced, c.Ref) {
			objs = append(objs, c.Live.DeepCopy())
		}
	}
	if len(objs) == 0 {
		return nil
	}
	sort.Sort(sort.Reverse(ssa.SortableUnstructureds(objs)))
	// The claims of pruned StatefulSets are found, and with PrunePVCs their deletion is tried as
	// a dry-run, before anything is deleted: once its StatefulSet is gone, no later apply knows
	// a claim any more, so a refusal must come first, and the claims go right after their
	// StatefulSet.
	claims, err := m.claimsOf(ctx, objs, opts.PrunePVCs)
	if err != nil {
		return err
	}
	propagation := metav1.DeletePropagationBackground
	if opts.Foreground {
		propagation = metav1.DeletePropagationForeground
	}
	delOpts := ssa.DeleteOptions{
		PropagationPolicy: propagation,
		Inclusions:        map[string]string{keys.LabelApplySetPartOf: set.ID},
	}
	// One at a time, stopping at the first failure: what is left stays a member, and the next
	// apply prunes it.
	for _, o := range objs {
		ref := diff.RefOf(o)
		if err := ctx.Err(); err != nil {
			return &ObjectError{Ref: ref, Op: "prune", Err: err}
		}
		e, err := m.ssa.Delete(ctx, o, delOpts)
		if err != nil {
			if inner := errors.Unwrap(err); inner != nil {
				err = inner // ssa's wrapping repeats the object
			}
			return &ObjectError{Ref: ref, Op: "prune", Err: m.clusterErr(err, needPrune)}
		}
		switch e.Action {
		case ssa.DeletedAction:
			res.Pruned = append(res.Pruned, ref)
			opts.Progress(Event{Type: EventPruned, Ref: ref})
			if err := m.pruneClaims(ctx, claims[keyOf(o)], res, opts); err != nil {
				return err
			}
		case ssa.SkippedAction:
			opts.Progress(Event{Type: EventKept, Ref: ref, Message: "no longer a member of " + set.ParentName})
		}
	}
	return nil
}

// pruneClaims deletes the claims of a pruned StatefulSet with PrunePVCs, else reports them kept.
func (m *Manager) pruneClaims(ctx context.Context, claims []*unstructured.Unstructured, res *Result, opts Options) error {
	for _, pvc := range claims {
		ref := diff.RefOf(pvc)
		if !opts.PrunePVCs {
			opts.Progress(Event{Type: EventKept, Ref: ref, Message: "build cache kept (hint: --prune-pvcs deletes it)"})
			continue
		}
		if err := client.IgnoreNotFound(m.client.Delete(ctx, pvc)); err != nil {
			return &ObjectError{Ref: ref, Op: "delete", Err: m.clusterErr(err, needPruneClaims)}
		}
		res.PVCs = append(res.PVCs, ref)
		opts.Progress(Event{Type: EventPruned, Ref: ref})
	}
	return nil
}

// claimsOf returns the claims of each StatefulSet among objs, the ones its volume claim template
// made. With deleting, each claim's delete is sent as a dry-run, so that a refusal shows before
// anything is deleted.
func (m *Manager) claimsOf(ctx context.Context, objs []*unstructured.Unstructured, deleting bool) (map[memberKey][]*unstructured.Unstructured, error) {
	out := map[memberKey][]*unstructured.Unstructured{}
	for _, sts := range objs {
		if sts.GetKind() != "StatefulSet" {
			continue
		}
		list := &unstructured.UnstructuredList{}
		list.SetAPIVersion("v1")
		list.SetKind("PersistentVolumeClaimList")
		err := m.client.List(ctx, list, client.InNamespace(sts.GetNamespace()), client.MatchingLabels{keys.LabelApp: sts.GetName()})
		if err != nil {
			return nil, fmt.Errorf("list claims of %s: %w", diff.RefOf(sts), m.clusterErr(err, needListClaims))
		}
		prefix := claimTemplateName + "-" + sts.GetName() + "-"
		for i := range list.Items {
			pvc := &list.Items[i]
			if !strings.HasPrefix(pvc.GetName(), prefix) {
				continue
			}
			pvc.SetAPIVersion("v1")
			pvc.SetKind("PersistentVolumeClaim")
			if deleting {
				if err := client.IgnoreNotFound(m.client.Delete(ctx, pvc.DeepCopy(), client.DryRunAll)); err != nil {
					return nil, &ObjectError{Ref: diff.RefOf(pvc), Op: "dry-run delete", Err: m.clusterErr(err, needPruneClaims)}
				}
			}
			out[keyOf(sts)] = append(out[keyOf(sts)], pvc)
		}
	}
	return out, nil
}
