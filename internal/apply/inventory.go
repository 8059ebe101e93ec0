package apply

import (
	"context"
	"slices"
	"sort"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bkctl/bkctl/internal/diff"
	"github.com/bkctl/bkctl/internal/keys"
	"github.com/bkctl/bkctl/internal/render"
)

const parentAPIVersion, cmKind = "v1", "ConfigMap"

// inventory is what an ApplySet parent records: the group-kinds and namespaces of its members.
type inventory struct {
	groupKinds []string // "Deployment.apps", "ConfigMap", sorted
	namespaces []string // every namespace with members, the parent's included, sorted
}

func (in inventory) union(o inventory) inventory {
	return inventory{groupKinds: unionSorted(in.groupKinds, o.groupKinds), namespaces: unionSorted(in.namespaces, o.namespaces)}
}

func (in inventory) covers(o inventory) bool {
	return in.union(o).equal(in)
}

func (in inventory) equal(o inventory) bool {
	return slices.Equal(in.groupKinds, o.groupKinds) && slices.Equal(in.namespaces, o.namespaces)
}

func unionSorted(a, b []string) []string {
	out := slices.Concat(a, b)
	sort.Strings(out)
	return slices.Compact(out)
}

// inventoryOf returns the inventory of objs; the parent's namespace is always in it.
func inventoryOf(set render.ApplySetRef, objs []*unstructured.Unstructured) inventory {
	in := inventory{namespaces: []string{set.ParentNamespace}}
	for _, o := range objs {
		in.groupKinds = append(in.groupKinds, groupKindString(o.GroupVersionKind().GroupKind()))
		if ns := o.GetNamespace(); ns != "" {
			in.namespaces = append(in.namespaces, ns)
		}
	}
	return in.union(inventory{})
}

func groupKindString(gk schema.GroupKind) string {
	if gk.Group == "" {
		return gk.Kind
	}
	return gk.Kind + "." + gk.Group
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// recorded reads the inventory of a live parent.
func recorded(set render.ApplySetRef, parent *unstructured.Unstructured) inventory {
	a := parent.GetAnnotations()
	in := inventory{
		groupKinds: splitList(a[keys.AnnotationApplySetGroupKinds]),
		namespaces: append(splitList(a[keys.AnnotationApplySetAdditionalNamespaces]), set.ParentNamespace),
	}
	return in.union(inventory{})
}

// records are the apply records of members, kept in the parent.
type records map[memberKey]diff.Applied

// recordedApplied reads the apply records of a live parent; a line it cannot read is no record.
func recordedApplied(parent *unstructured.Unstructured) records {
	data, _, _ := unstructured.NestedString(parent.Object, "data", keys.DataApplied)
	out := records{}
	for _, line := range strings.Split(data, "\n") {
		f := strings.Fields(line)
		if len(f) != 3 {
			continue
		}
		id := strings.Split(f[0], "/")
		if len(id) != 3 {
			continue
		}
		out[memberKey{schema.ParseGroupKind(id[0]), id[1], id[2]}] = diff.Applied{Config: f[1], Fields: f[2]}
	}
	return out
}

func (r records) String() string {
	lines := make([]string, 0, len(r))
	for k, a := range r {
		if !a.IsZero() {
			lines = append(lines, groupKindString(k.gk)+"/"+k.namespace+"/"+k.name+" "+a.Config+" "+a.Fields+"\n")
		}
	}
	sort.Strings(lines)
	return strings.Join(lines, "")
}

// parentObject returns the parent ConfigMap that records in, and recs when there are any.
func (m *Manager) parentObject(set render.ApplySetRef, in inventory, recs records) *unstructured.Unstructured {
	p := &unstructured.Unstructured{}
	p.SetAPIVersion(parentAPIVersion)
	p.SetKind(cmKind)
	p.SetName(set.ParentName)
	p.SetNamespace(set.ParentNamespace)
	p.SetLabels(map[string]string{keys.LabelApplySetID: set.ID, keys.LabelManagedBy: keys.ManagedByValue})
	ann := map[string]string{
		keys.AnnotationApplySetTooling:    m.opts.Tooling,
		keys.AnnotationApplySetGroupKinds: strings.Join(in.groupKinds, ","),
	}
	var extra []string
	for _, ns := range in.namespaces {
		if ns != set.ParentNamespace {
			extra = append(extra, ns)
		}
	}
	if len(extra) > 0 {
		ann[keys.AnnotationApplySetAdditionalNamespaces] = strings.Join(extra, ",")
	}
	p.SetAnnotations(ann)
	if data := recs.String(); data != "" {
		p.Object["data"] = map[string]any{keys.DataApplied: data}
	}
	return p
}

// parentUpToDate reports whether live already carries everything want sets.
func parentUpToDate(live, want *unstructured.Unstructured) bool {
	if live == nil {
		return false
	}
	for k, v := range want.GetLabels() {
		if live.GetLabels()[k] != v {
			return false
		}
	}
	la := live.GetAnnotations()
	for _, k := range []string{keys.AnnotationApplySetTooling, keys.AnnotationApplySetGroupKinds, keys.AnnotationApplySetAdditionalNamespaces} {
		if la[k] != want.GetAnnotations()[k] {
			return false
		}
	}
	return true
}

// getParent returns the live parent, or nil when there is none.
func (m *Manager) getParent(ctx context.Context, set render.ApplySetRef) (*unstructured.Unstructured, error) {
	p := &unstructured.Unstructured{}
	p.SetAPIVersion(parentAPIVersion)
	p.SetKind(cmKind)
	err := m.client.Get(ctx, client.ObjectKey{Namespace: set.ParentNamespace, Name: set.ParentName}, p)
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, &ObjectError{Ref: parentRef(set), Op: "get", Err: m.clusterErr(err, needInventory)}
	}
	return p, nil
}

func parentRef(set render.ApplySetRef) diff.Ref {
	return diff.Ref{Version: parentAPIVersion, Kind: set.ParentKind, Namespace: set.ParentNamespace, Name: set.ParentName}
}
