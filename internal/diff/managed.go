package diff

import (
	"bytes"
	"sort"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"
)

// ownerKey identifies a field manager's entry independently of its API version.
type ownerKey struct {
	manager, operation, subresource string
}

// takenOver returns, per other manager, the fields it owns in live but no longer in merged: a
// forced apply removes a field from another owner exactly when it sets a different value there.
// Fields shared at the same value stay shared and are not reported.
func takenOver(live, merged *unstructured.Unstructured, manager string) ([]Ownership, error) {
	before, err := ownedSets(live.GetManagedFields())
	if err != nil {
		return nil, err
	}
	after, err := ownedSets(merged.GetManagedFields())
	if err != nil {
		return nil, err
	}
	var out []Ownership
	for k, set := range before {
		if k.manager == manager {
			continue
		}
		lost := set
		if a, ok := after[k]; ok {
			lost = set.Difference(a)
		}
		if lost.Empty() {
			continue
		}
		o := Ownership{Manager: k.manager, Operation: k.operation}
		lost.Leaves().Iterate(func(p fieldpath.Path) { o.Fields = append(o.Fields, p.String()) })
		sort.Strings(o.Fields)
		out = append(out, o)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Manager != out[j].Manager {
			return out[i].Manager < out[j].Manager
		}
		return out[i].Operation < out[j].Operation
	})
	return out, nil
}

func ownedSets(entries []metav1.ManagedFieldsEntry) (map[ownerKey]*fieldpath.Set, error) {
	out := map[ownerKey]*fieldpath.Set{}
	for _, e := range entries {
		if e.FieldsV1 == nil {
			continue
		}
		s := &fieldpath.Set{}
		if err := s.FromJSON(bytes.NewReader(e.FieldsV1.Raw)); err != nil {
			return nil, err
		}
		k := ownerKey{e.Manager, string(e.Operation), e.Subresource}
		if prev, ok := out[k]; ok {
			s = prev.Union(s)
		}
		out[k] = s
	}
	return out, nil
}
