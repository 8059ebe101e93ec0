// Package diff compares the objects bkctl would apply with the live cluster and renders the
// result as a plan: one change per object, in text (with unified YAML diffs) or JSON.
package diff

import (
	"fmt"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/bkctl/bkctl/internal/keys"
)

// Action is what applying the plan does to one object; plan, apply and prune share it.
type Action string

// The actions of a plan. Conflict is an update that would take fields from another applier.
// Replace is a change the API server refuses as an update (an immutable field, or a node
// switching between Deployment and StatefulSet): the object must be deleted and created again.
const (
	Create    Action = "create"
	Update    Action = "update"
	Replace   Action = "replace"
	Prune     Action = "prune"
	Unchanged Action = "unchanged"
	Conflict  Action = "conflict"
)

// symbol is the one-character mark of an action in text output.
func (a Action) symbol() string {
	switch a {
	case Create:
		return "+"
	case Update:
		return "~"
	case Replace:
		return "±"
	case Prune:
		return "-"
	case Conflict:
		return "!"
	}
	return "="
}

// Ref identifies one object.
type Ref struct {
	Group     string `json:"group,omitempty"`
	Version   string `json:"version"`
	Kind      string `json:"kind"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
}

// RefOf returns the Ref of obj.
func RefOf(obj *unstructured.Unstructured) Ref {
	gvk := obj.GroupVersionKind()
	return Ref{Group: gvk.Group, Version: gvk.Version, Kind: gvk.Kind, Namespace: obj.GetNamespace(), Name: obj.GetName()}
}

// String returns "Kind/namespace/name", or "Kind/name" for a cluster-scoped object.
func (r Ref) String() string {
	if r.Namespace == "" {
		return r.Kind + "/" + r.Name
	}
	return r.Kind + "/" + r.Namespace + "/" + r.Name
}

// GroupKind returns the object's API group and kind.
func (r Ref) GroupKind() schema.GroupKind { return schema.GroupKind{Group: r.Group, Kind: r.Kind} }

// Ownership is a set of fields that another field manager holds and that applying takes over.
type Ownership struct {
	// Manager is the other field manager, e.g. "kubectl-edit" or "helm".
	Manager string `json:"manager"`
	// Operation is "Apply" (a conflict) or "Update" (an imperative change, i.e. drift).
	Operation string `json:"operation"`
	// Fields are structured-merge-diff paths such as .spec.replicas.
	Fields []string `json:"fields"`
}

// Describe says who holds the fields, for plan lines and errors.
func (o Ownership) Describe() string {
	if slices.Equal(o.Fields, []string{PartOfField}) {
		return "rendered by another builders file too: a member of " + o.Manager
	}
	return fmt.Sprintf("%s owned by %q", strings.Join(o.Fields, ", "), o.Manager)
}

// PartOfField is the field path of an Ownership that says another inventory (another builders
// file) has the object as its member.
const PartOfField = ".metadata.labels." + keys.LabelApplySetPartOf

// Change is the difference between what bkctl renders for one object and the live cluster.
type Change struct {
	Ref    Ref
	Action Action
	// Desired is the rendered object (nil for a prune).
	Desired *unstructured.Unstructured
	// Live is the object in the cluster (nil for a create).
	Live *unstructured.Unstructured
	// Merged is the server-side apply dry-run of Desired (nil for a prune; Desired when the
	// dry-run could not run because the namespace is created by the same plan).
	Merged *unstructured.Unstructured
	// Fields are the paths whose value changes, e.g. spec.replicas.
	Fields []string
	// Conflicts are fields that other appliers own with another value.
	Conflicts []Ownership
	// Drift are fields that an imperative change (kubectl edit, scale) set and apply takes back.
	Drift []Ownership
	// Immutable are the fields of a Replace that cannot be updated in place, e.g. spec.selector,
	// or "kind" for a node that switches between Deployment and StatefulSet.
	Immutable []string
	// Applied is the record of bkctl's apply that an unchanged object is the result of, kept in
	// the inventory so that the next plan can skip its dry-run (zero when unknown or pending).
	Applied Applied

	// diffed is set by Compact: lines is then the line diff of the change (packed), which Live
	// and Merged no longer hold enough of to compute.
	diffed bool
	lines  string
}

// Compute compares one rendered object with its live state and its server-side apply dry-run
// (made with force, as manager). live is nil when the object does not exist.
func Compute(desired, live, merged *unstructured.Unstructured, manager string) (Change, error) {
	c := Change{Ref: RefOf(desired), Desired: desired, Live: live, Merged: merged}
	if live == nil {
		c.Action = Create
		return c, nil
	}
	c.Fields = ChangedFields(live, merged)
	taken, err := takenOver(live, merged, manager)
	if err != nil {
		return c, fmt.Errorf("%s: read managed fields: %w", c.Ref, err)
	}
	for _, o := range taken {
		if o.Operation == "Apply" {
			c.Conflicts = append(c.Conflicts, o)
		} else {
			c.Drift = append(c.Drift, o)
		}
	}
	switch {
	case len(c.Conflicts) > 0:
		c.Action = Conflict
	case len(c.Fields) > 0:
		c.Action = Update
	default:
		c.Action = Unchanged
	}
	return c, nil
}

// Pruned returns the change that removes a live member the file no longer renders.
func Pruned(live *unstructured.Unstructured) Change {
	return Change{Ref: RefOf(live), Action: Prune, Live: live}
}

// Pending reports whether applying c changes the cluster.
func (c Change) Pending() bool { return c.Action != Unchanged }

// ConflictManagers returns the names of the managers c conflicts with, sorted.
func (c Change) ConflictManagers() []string {
	var out []string
	for _, o := range c.Conflicts {
		if !slices.Contains(out, o.Manager) {
			out = append(out, o.Manager)
		}
	}
	slices.Sort(out)
	return out
}
