package apply

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bkctl/bkctl/internal/diff"
)

// needReplace is what --force-replace needs: it deletes the objects it recreates.
const needReplace = "--force-replace needs get and delete on the kinds it recreates"

// replaceOf turns a dry-run that the API server refused for immutable fields into a Replace
// change, or reports false when dryErr is anything else. The fields come from the refusal's
// causes (a field named immutable, or a StatefulSet spec update forbidden as a whole) narrowed
// to the immutable fields bkctl knows of that desired changes. Its Merged is a second dry-run
// with those fields left as they are live, then set as desired, so that the plan's diff shows
// what the recreated object holds rather than every server default as removed; when that dry-run
// is refused too, Merged is nil.
func (m *Manager) replaceOf(ctx context.Context, desired, live *unstructured.Unstructured, dryErr error) (diff.Change, bool, error) {
	causes := immutableCauses(dryErr)
	if len(causes) == 0 {
		return diff.Change{}, false, nil
	}
	ref := diff.RefOf(desired)
	if live == nil {
		live = &unstructured.Unstructured{}
		live.SetGroupVersionKind(desired.GroupVersionKind())
		if err := m.client.Get(ctx, client.ObjectKeyFromObject(desired), live); err != nil {
			if apierrors.IsNotFound(err) {
				return diff.Change{}, false, nil
			}
			return diff.Change{}, true, &ObjectError{Ref: ref, Op: "get", Err: m.clusterErr(err, needGet)}
		}
	}
	var fields []string
	for _, f := range diff.ImmutableFields(desired, live) {
		if slices.ContainsFunc(causes, func(c metav1.StatusCause) bool { return under(f, c.Field) }) {
			fields = append(fields, f)
		}
	}
	if len(fields) == 0 {
		for _, c := range causes {
			if c.Type == metav1.CauseTypeFieldValueInvalid {
				fields = append(fields, c.Field)
			}
		}
	}
	if len(fields) == 0 {
		return diff.Change{}, false, nil
	}
	slices.Sort(fields)
	c := diff.Change{Ref: ref, Action: diff.Replace, Desired: desired, Live: live, Immutable: slices.Compact(fields)}
	if merged := m.mergedReplace(ctx, desired, live); merged != nil {
		c.Merged = merged
		c.Fields = diff.ChangedFields(live, merged)
	} else {
		c.Fields = c.Immutable
	}
	return c, true, nil
}

// immutableCauses returns the causes of an Invalid refusal that say a field cannot change: the
// field is immutable (apimachinery's ValidateImmutableField), or its update is forbidden (a
// StatefulSet names its whole spec so).
func immutableCauses(err error) []metav1.StatusCause {
	var status apierrors.APIStatus
	if !apierrors.IsInvalid(err) || !errors.As(err, &status) || status.Status().Details == nil {
		return nil
	}
	var out []metav1.StatusCause
	for _, c := range status.Status().Details.Causes {
		switch {
		case c.Type == metav1.CauseType(field.ErrorTypeInvalid) && strings.Contains(c.Message, apivalidation.FieldImmutableErrorMsg),
			c.Type == metav1.CauseType(field.ErrorTypeForbidden):
			out = append(out, c)
		}
	}
	return out
}

// under reports whether path (as diff.ChangedFields writes it) is field or inside it.
func under(path, field string) bool {
	return path == field || strings.HasPrefix(path, field+".") || strings.HasPrefix(path, field+"[")
}

// mergedReplace dry-runs desired with its immutable fields as they are live, then sets them as
// desired; nil when the server refuses that too.
func (m *Manager) mergedReplace(ctx context.Context, desired, live *unstructured.Unstructured) *unstructured.Unstructured {
	paths := diff.ImmutablePaths(desired)
	probe := desired.DeepCopy()
	for _, p := range paths {
		if v, ok, _ := unstructured.NestedFieldCopy(live.Object, p...); ok {
			_ = unstructured.SetNestedField(probe.Object, v, p...)
		}
	}
	err := m.client.Patch(ctx, probe, client.Apply, client.DryRunAll, client.ForceOwnership, client.FieldOwner(m.opts.FieldManager))
	if err != nil {
		return nil
	}
	for _, p := range paths {
		if v, ok, _ := unstructured.NestedFieldCopy(desired.Object, p...); ok {
			_ = unstructured.SetNestedField(probe.Object, v, p...)
		} else {
			unstructured.RemoveNestedField(probe.Object, p...)
		}
	}
	return probe
}

// ReplaceError stops an apply before anything is written: the plan replaces objects, which
// deletes them and their pods, and --force-replace was not given.
type ReplaceError struct {
	Changes []diff.Change
}

func (e *ReplaceError) Error() string {
	var parts []string
	for _, c := range e.Changes {
		if slices.Equal(c.Immutable, []string{"kind"}) {
			parts = append(parts, fmt.Sprintf("%s: the node changes kind, which deletes its workload of the other kind", c.Ref))
			continue
		}
		parts = append(parts, fmt.Sprintf("%s: %s cannot change in place", c.Ref, strings.Join(c.Immutable, ", ")))
	}
	return fmt.Sprintf("changes that need the objects deleted and created again, nothing was applied: %s (hint: --force-replace recreates them; their pods restart, and StatefulSets keep their volume claims unless --prune-pvcs)", strings.Join(parts, "; "))
}

// replacePollInterval is how often a replace checks that the object it deleted is gone.
const replacePollInterval = 100 * time.Millisecond

// replace deletes the live objects that the plan's Replace changes recreate: the object itself
// for an immutable field, the workload of the other kind for a node that switches kind. Each is
// deleted in the background (its pods go with it) and waited for until it is gone, so that the
// apply after it creates rather than updates. A StatefulSet's claims are deleted only with
// PrunePVCs. Deleted objects are recorded in res.Replaced.
func (m *Manager) replace(ctx context.Context, p *diff.Plan, res *Result, opts Options) error {
	for _, c := range p.Changes {
		if c.Action != diff.Replace {
			continue
		}
		old := c.Live
		if old == nil {
			old = otherKind(p, c.Ref)
		}
		if old == nil {
			continue
		}
		if err := m.deleteAndWait(ctx, old); err != nil {
			return err
		}
		ref := diff.RefOf(old)
		res.Replaced = append(res.Replaced, ref)
		opts.Progress(Event{Type: EventReplaced, Ref: ref})
		claims, err := m.claimsOf(ctx, []*unstructured.Unstructured{old}, opts.PrunePVCs)
		if err != nil {
			return err
		}
		if err := m.pruneClaims(ctx, claims[keyOf(old)], res, opts); err != nil {
			return err
		}
	}
	return nil
}

// otherKind returns the live workload of the plan's prunes that a kind switch of ref replaces.
func otherKind(p *diff.Plan, ref diff.Ref) *unstructured.Unstructured {
	for _, c := range p.Changes {
		if c.Action == diff.Prune && c.Ref.Group == ref.Group && c.Ref.Namespace == ref.Namespace && c.Ref.Name == ref.Name && c.Ref.Kind != ref.Kind {
			return c.Live
		}
	}
	return nil
}

// deleteAndWait deletes obj, only the one the plan saw (its UID), and waits until it is gone.
func (m *Manager) deleteAndWait(ctx context.Context, obj *unstructured.Unstructured) error {
	ref := diff.RefOf(obj)
	o := obj.DeepCopy()
	uid := o.GetUID()
	err := m.client.Delete(ctx, o, client.PropagationPolicy(metav1.DeletePropagationBackground), client.Preconditions{UID: &uid})
	if err != nil && !apierrors.IsNotFound(err) {
		return &ObjectError{Ref: ref, Op: "delete to replace", Err: m.clusterErr(err, needReplace)}
	}
	t := time.NewTicker(replacePollInterval)
	defer t.Stop()
	for {
		cur := &unstructured.Unstructured{}
		cur.SetGroupVersionKind(obj.GroupVersionKind())
		err := m.client.Get(ctx, client.ObjectKeyFromObject(obj), cur)
		switch {
		case apierrors.IsNotFound(err), err == nil && cur.GetUID() != uid:
			return nil
		case err != nil:
			return &ObjectError{Ref: ref, Op: "wait for deletion", Err: m.clusterErr(err, needReplace)}
		}
		select {
		case <-ctx.Done():
			return &ObjectError{Ref: ref, Op: "wait for deletion", Err: ctx.Err()}
		case <-t.C:
		}
	}
}
