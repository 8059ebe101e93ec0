package inspect

import (
	"context"
	"fmt"
	"slices"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"

	"github.com/bkctl/bkctl/internal/keys"
	"github.com/bkctl/bkctl/internal/spec"
)

// Target names the nodes of one builder to inspect.
type Target struct {
	Builder   string
	Namespace string
	Nodes     []NodeRef
}

// NodeRef is a node by the name of its workload, with the platforms it declares where known
// before the workload is read.
type NodeRef struct {
	Name      string
	Platforms []string
}

// FromFile returns the targets of the builders of f, or only of the builder named builder. Node
// names and namespaces default as render defaults them.
func FromFile(f *spec.File, builder string) ([]Target, error) {
	var out []Target
	for _, b := range f.Builders {
		if builder != "" && b.Name != builder {
			continue
		}
		t := Target{Builder: b.Name, Namespace: b.Namespace}
		if t.Namespace == "" {
			t.Namespace = f.Metadata.Namespace
		}
		for i, n := range b.Nodes {
			name := n.Name
			if name == "" {
				name = fmt.Sprintf("%s%d", b.Name, i)
			}
			t.Nodes = append(t.Nodes, NodeRef{Name: name, Platforms: n.Platforms})
		}
		out = append(out, t)
	}
	if builder != "" && len(out) == 0 {
		return nil, fmt.Errorf("builder %q is not in %s", builder, f.Path)
	}
	return out, nil
}

// allNamespaces is where Discover looks without a namespace.
const allNamespaces = "all namespaces"

// Discover finds the builders bkctl manages in namespace ("" is every namespace) by the labels
// render puts on their workloads, optionally only the builder named builder. Targets are sorted
// by namespace and builder, nodes by name.
func (in *Inspector) Discover(ctx context.Context, namespace, builder string) ([]Target, error) {
	sel := labels.SelectorFromSet(labels.Set{keys.LabelManagedBy: keys.ManagedByValue})
	op, vals := selection.Exists, []string(nil)
	if builder != "" {
		op, vals = selection.Equals, []string{builder}
	}
	req, err := labels.NewRequirement(keys.LabelBuilder, op, vals)
	if err != nil {
		return nil, fmt.Errorf("select builder %q: %w", builder, err)
	}
	lo := metav1.ListOptions{LabelSelector: sel.Add(*req).String()}
	where := namespace
	if where == "" {
		where = allNamespaces
	}
	deps, err := in.client.AppsV1().Deployments(namespace).List(ctx, lo)
	if err != nil {
		return nil, listError("Deployments", where, err)
	}
	sets, err := in.client.AppsV1().StatefulSets(namespace).List(ctx, lo)
	if err != nil {
		return nil, listError("StatefulSets", where, err)
	}
	byKey := map[[2]string]*Target{}
	add := func(m metav1.ObjectMeta) {
		key := [2]string{m.Namespace, m.Labels[keys.LabelBuilder]}
		t := byKey[key]
		if t == nil {
			t = &Target{Builder: key[1], Namespace: key[0]}
			byKey[key] = t
		}
		t.Nodes = append(t.Nodes, NodeRef{Name: m.Name})
	}
	for _, d := range deps.Items {
		add(d.ObjectMeta)
	}
	for _, s := range sets.Items {
		add(s.ObjectMeta)
	}
	out := make([]Target, 0, len(byKey))
	for _, t := range byKey {
		slices.SortFunc(t.Nodes, func(a, b NodeRef) int { return strings.Compare(a.Name, b.Name) })
		out = append(out, *t)
	}
	slices.SortFunc(out, func(a, b Target) int {
		if c := strings.Compare(a.Namespace, b.Namespace); c != 0 {
			return c
		}
		return strings.Compare(a.Builder, b.Builder)
	})
	return out, nil
}
