package apply

import (
	"context"
	"fmt"
	"sort"
	"sync"

	"golang.org/x/sync/errgroup"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bkctl/bkctl/internal/diff"
	"github.com/bkctl/bkctl/internal/keys"
	"github.com/bkctl/bkctl/internal/render"
)

// Plan compares objs, the rendering of one builders file whose inventory is set, with the
// cluster: one server-side apply dry-run per object (forced, so that it also shows what would be
// taken from other managers) unless the inventory's record of its last apply proves it unchanged
// (diff.Settled), the live members listed by their part-of label, and the members the file no
// longer renders as prunes. It writes nothing.
func (m *Manager) Plan(ctx context.Context, set render.ApplySetRef, objs []*unstructured.Unstructured) (*diff.Plan, error) {
	return m.plan(ctx, set, objs, objs)
}

// PlanDelete returns the plan that removes every member of the inventory set and its parent.
// objs, the file's rendering, only widen where members are looked for.
func (m *Manager) PlanDelete(ctx context.Context, set render.ApplySetRef, objs []*unstructured.Unstructured) (*diff.Plan, error) {
	return m.plan(ctx, set, nil, objs)
}

func (m *Manager) plan(ctx context.Context, set render.ApplySetRef, desired, scope []*unstructured.Unstructured) (*diff.Plan, error) {
	parent, err := m.getParent(ctx, set)
	if err != nil {
		return nil, err
	}
	want := inventoryOf(set, desired)
	var rec inventory
	var applied records
	if parent != nil {
		rec = recorded(set, parent)
		applied = recordedApplied(parent)
	}
	look := rec.union(want).union(inventoryOf(set, scope))
	live, err := m.listMembers(ctx, set, look)
	if err != nil {
		return nil, err
	}
	absent, err := m.absent(ctx, desired, live)
	if err != nil {
		return nil, err
	}
	changes, err := m.dryRunAll(ctx, set, desired, live, applied, absent)
	if err != nil {
		return nil, err
	}
	rendered := map[memberKey]bool{}
	for _, o := range desired {
		rendered[keyOf(o)] = true
	}
	var prunes []diff.Change
	for _, k := range live.rest() {
		if rendered[k] {
			continue
		}
		o, err := live.take(k)
		if err != nil {
			return nil, err
		}
		prunes = append(prunes, diff.Pruned(o))
	}
	sortPrunes(prunes)
	changes = append(changes, prunes...)
	diff.MarkKindSwitches(changes)

	p := &diff.Plan{
		Name:      set.ParentName[len(keys.ApplySetParentPrefix):],
		Namespace: set.ParentNamespace,
		Changes:   changes,
		Inventory: diff.InventoryChange{
			Ref: parentRef(set), ID: set.ID, Action: diff.Unchanged,
			GroupKinds: want.groupKinds, Namespaces: want.namespaces,
			RecordedGroupKinds: rec.groupKinds, RecordedNamespaces: rec.namespaces,
		},
	}
	switch {
	case len(desired) == 0 && parent != nil:
		p.Inventory.Action = diff.Prune
	case len(desired) == 0:
	case parent == nil:
		p.Inventory.Action = diff.Create
	case !parentUpToDate(parent, m.parentObject(set, want, nil)):
		p.Inventory.Action = diff.Update
	}
	return p, nil
}

// memberKey identifies an object independently of its API version.
type memberKey struct {
	gk              schema.GroupKind
	namespace, name string
}

func keyOf(o *unstructured.Unstructured) memberKey {
	return memberKey{o.GroupVersionKind().GroupKind(), o.GetNamespace(), o.GetName()}
}

// dryRunAll dry-runs every desired object, namespaces first, except where the dry-run cannot
// show more than the rendering: the objects of a namespace that the plan creates, and objects
// that do not exist (absent), are planned as creates of what was rendered. Of the absent objects
// of each namespace one is still dry-run, so that a namespace that does not exist is reported
// at plan time. An object that the inventory's apply records prove unchanged (diff.Settled) is
// not dry-run either.
func (m *Manager) dryRunAll(ctx context.Context, set render.ApplySetRef, desired []*unstructured.Unstructured, live *liveSet, applied records, absent map[memberKey]bool) ([]diff.Change, error) {
	changes := make([]diff.Change, len(desired))
	newNamespaces := map[string]bool{}
	probed := map[string]bool{} // namespaces where one absent object was dry-run
	run := func(stage func(*unstructured.Unstructured) bool) error {
		g, ctx := errgroup.WithContext(ctx)
		g.SetLimit(m.opts.Concurrency)
		for i, o := range desired {
			if !stage(o) {
				continue
			}
			k := keyOf(o)
			ns := o.GetNamespace()
			local := newNamespaces[ns]
			if absent[k] && !local {
				local = ns == "" || probed[ns]
				probed[ns] = true
			}
			// Each object is decoded, compared and compacted in its own goroutine, so that only
			// as many objects as run at once are ever whole.
			g.Go(func() error {
				l, err := live.take(k)
				if err != nil {
					return err
				}
				if c, ok := diff.Settled(o, l, m.opts.FieldManager, applied[k]); ok {
					changes[i] = diff.Compact(c)
					return nil
				}
				if local {
					c, err := diff.Compute(o, nil, o, m.opts.FieldManager)
					changes[i] = c
					return err
				}
				c, err := m.dryRun(ctx, set, o, l)
				dropManagedFields(c.Live)
				dropManagedFields(c.Merged)
				changes[i] = diff.Compact(c)
				return err
			})
		}
		return g.Wait()
	}
	isNamespace := func(o *unstructured.Unstructured) bool {
		return o.GetKind() == "Namespace" && o.GroupVersionKind().Group == ""
	}
	if err := run(isNamespace); err != nil {
		return nil, err
	}
	for _, c := range changes {
		if c.Action == diff.Create && c.Ref.Kind == "Namespace" {
			newNamespaces[c.Ref.Name] = true
		}
	}
	if err := run(func(o *unstructured.Unstructured) bool { return !isNamespace(o) }); err != nil {
		return nil, err
	}
	return changes, nil
}

// dropManagedFields drops the managed fields of an object once the plan has read them (owners,
// conflicts, drift, the apply record): a plan keeps the live object and the dry-run of each
// change, and their managed fields are a large part of them that no later step reads.
func dropManagedFields(o *unstructured.Unstructured) {
	if o != nil {
		unstructured.RemoveNestedField(o.Object, "metadata", "managedFields")
	}
}

// absent returns the rendered objects that are not members (not in live) and that do not exist:
// for each kind and namespace of such objects, one list of the names there (metadata only). An
// object that exists without being a member (made by buildx, or another file's) is not absent:
// its dry-run shows what apply would take over.
func (m *Manager) absent(ctx context.Context, desired []*unstructured.Unstructured, live *liveSet) (map[memberKey]bool, error) {
	type listing struct {
		gvk schema.GroupVersionKind
		ns  string
	}
	candidates := map[listing][]memberKey{}
	for _, o := range desired {
		if k := keyOf(o); !live.has(k) {
			l := listing{o.GroupVersionKind(), o.GetNamespace()}
			candidates[l] = append(candidates[l], k)
		}
	}
	out := map[memberKey]bool{}
	var mu sync.Mutex
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(m.opts.Concurrency)
	for l, keys := range candidates {
		g.Go(func() error {
			ml := &metav1.PartialObjectMetadataList{}
			ml.SetGroupVersionKind(l.gvk.GroupVersion().WithKind(l.gvk.Kind + "List"))
			var opts []client.ListOption
			if l.ns != "" {
				opts = append(opts, client.InNamespace(l.ns))
			}
			if err := m.client.List(ctx, ml, opts...); err != nil {
				where := l.ns
				if where == "" {
					where = "the cluster"
				}
				return fmt.Errorf("list %s in %s: %w", groupKindString(l.gvk.GroupKind()), where, m.clusterErr(err, needList))
			}
			exists := make(map[string]bool, len(ml.Items))
			for i := range ml.Items {
				exists[ml.Items[i].Name] = true
			}
			mu.Lock()
			defer mu.Unlock()
			for _, k := range keys {
				if !exists[k.name] {
					out[k] = true
				}
			}
			return nil
		})
	}
	return out, g.Wait()
}

// dryRun runs one forced server-side apply dry-run and compares it with live, which is nil
// when the object is not a member (it may still exist: then it is read). An existing object that
// is a member of another inventory is a conflict: two builders files render it, and both use
// the field manager bkctl, so server-side apply alone would let each take it from the other.
func (m *Manager) dryRun(ctx context.Context, set render.ApplySetRef, desired, live *unstructured.Unstructured) (diff.Change, error) {
	ref := diff.RefOf(desired)
	merged := desired.DeepCopy()
	err := m.client.Patch(ctx, merged, client.Apply, client.DryRunAll, client.ForceOwnership, client.FieldOwner(m.opts.FieldManager))
	if err != nil {
		if c, ok, rerr := m.replaceOf(ctx, desired, live, err); ok {
			return c, rerr
		}
		if apierrors.IsNotFound(err) && desired.GetNamespace() != "" {
			err = fmt.Errorf("%w (hint: create namespace %q, or set createNamespace: true on its builder)", err, desired.GetNamespace())
		}
		return diff.Change{}, &ObjectError{Ref: ref, Op: "dry-run apply", Err: m.clusterErr(err, needDryRun)}
	}
	if live == nil && merged.GetResourceVersion() != "" {
		live = &unstructured.Unstructured{}
		live.SetGroupVersionKind(desired.GroupVersionKind())
		if err := m.client.Get(ctx, client.ObjectKeyFromObject(desired), live); err != nil {
			return diff.Change{}, &ObjectError{Ref: ref, Op: "get", Err: m.clusterErr(err, needGet)}
		}
	}
	c, err := diff.Compute(desired, live, merged, m.opts.FieldManager)
	if err != nil {
		return c, err
	}
	if other := partOf(live); other != "" && other != set.ID {
		c.Action = diff.Conflict
		c.Conflicts = append(c.Conflicts, diff.Ownership{
			Manager: m.inventoryName(ctx, live.GetNamespace(), other), Operation: "Apply", Fields: []string{diff.PartOfField},
		})
	}
	if c.Action == diff.Unchanged {
		c.Applied = diff.Applied{Config: diff.ConfigHash(desired), Fields: diff.FieldsHash(merged, m.opts.FieldManager)}
	}
	return c, err
}

// pruneOrder deletes workloads before the ConfigMaps they mount, and namespaces last.
var pruneOrder = map[string]int{"StatefulSet": 0, "Deployment": 1, "ConfigMap": 2, "Namespace": 3}

func sortPrunes(cs []diff.Change) {
	sort.Slice(cs, func(i, j int) bool {
		a, b := cs[i].Ref, cs[j].Ref
		if pruneOrder[a.Kind] != pruneOrder[b.Kind] {
			return pruneOrder[a.Kind] < pruneOrder[b.Kind]
		}
		if a.Namespace != b.Namespace {
			return a.Namespace < b.Namespace
		}
		return a.Name < b.Name
	})
}

func partOf(o *unstructured.Unstructured) string {
	if o == nil {
		return ""
	}
	return o.GetLabels()[keys.LabelApplySetPartOf]
}

// inventoryName names the inventory whose ID is id, as "inventory <namespace>/<parent>" when its
// parent lives in namespace (the usual case: files sharing a namespace), else by its ID.
func (m *Manager) inventoryName(ctx context.Context, namespace, id string) string {
	l := &unstructured.UnstructuredList{}
	l.SetAPIVersion("v1")
	l.SetKind("ConfigMapList")
	err := m.client.List(ctx, l, client.InNamespace(namespace), client.MatchingLabels{keys.LabelApplySetID: id})
	if err == nil && len(l.Items) == 1 {
		return "inventory " + namespace + "/" + l.Items[0].GetName()
	}
	return "inventory " + id
}
