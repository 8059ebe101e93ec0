package diff

import (
	"reflect"

	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// immutablePaths are the fields of the workloads bkctl renders that the API server refuses to
// update: a Deployment's selector, and everything of a StatefulSet's spec but replicas,
// template, update strategy and a few more.
var immutablePaths = map[schema.GroupKind][][]string{
	{Group: "apps", Kind: "Deployment"}: {{"spec", "selector"}},
	{Group: "apps", Kind: "StatefulSet"}: {
		{"spec", "selector"}, {"spec", "serviceName"}, {"spec", "podManagementPolicy"}, {"spec", "volumeClaimTemplates"},
	},
}

// ImmutableFields returns the immutable fields whose value desired changes on live, as paths
// in the form of ChangedFields; nil when it knows of none for the kind.
func ImmutableFields(desired, live *unstructured.Unstructured) []string {
	var out []string
	for _, p := range immutablePaths[desired.GroupVersionKind().GroupKind()] {
		want, _, _ := unstructured.NestedFieldNoCopy(desired.Object, p...)
		have, _, _ := unstructured.NestedFieldNoCopy(live.Object, p...)
		path := p[0] + "." + p[1]
		if p[1] == "volumeClaimTemplates" {
			out = append(out, claimTemplateChanges(path, want, have)...)
			continue
		}
		if want != nil && !reflect.DeepEqual(want, have) {
			out = append(out, path)
		}
	}
	return out
}

// claimTemplateChanges compares what bkctl renders of each volume claim template (size,
// storage class, access modes) with the live one, which also carries server defaults.
func claimTemplateChanges(path string, want, have any) []string {
	byName := func(v any) map[string]map[string]any {
		out := map[string]map[string]any{}
		list, _ := v.([]any)
		for _, e := range list {
			if m, ok := e.(map[string]any); ok {
				name, _, _ := unstructured.NestedString(m, "metadata", "name")
				out[name] = m
			}
		}
		return out
	}
	live := byName(have)
	var out []string
	for name, w := range byName(want) {
		at := path + "[name=" + name + "]"
		h, ok := live[name]
		if !ok {
			out = append(out, at)
			continue
		}
		ws, _, _ := unstructured.NestedString(w, "spec", "resources", "requests", "storage")
		hs, _, _ := unstructured.NestedString(h, "spec", "resources", "requests", "storage")
		if !sameQuantity(ws, hs) {
			out = append(out, at+".spec.resources.requests.storage")
		}
		if wc, set, _ := unstructured.NestedString(w, "spec", "storageClassName"); set {
			if hc, _, _ := unstructured.NestedString(h, "spec", "storageClassName"); wc != hc {
				out = append(out, at+".spec.storageClassName")
			}
		} else if _, had, _ := unstructured.NestedString(h, "spec", "storageClassName"); had {
			out = append(out, at+".spec.storageClassName")
		}
		wm, _, _ := unstructured.NestedStringSlice(w, "spec", "accessModes")
		hm, _, _ := unstructured.NestedStringSlice(h, "spec", "accessModes")
		if !reflect.DeepEqual(wm, hm) {
			out = append(out, at+".spec.accessModes")
		}
	}
	return out
}

func sameQuantity(a, b string) bool {
	qa, errA := resource.ParseQuantity(a)
	qb, errB := resource.ParseQuantity(b)
	if errA != nil || errB != nil {
		return a == b
	}
	return qa.Cmp(qb) == 0
}

// MarkKindSwitches turns the create of a workload whose node also has a pruned workload of the
// other kind (a node whose storage moved between persistentVolume and memory or none) into a
// Replace of field "kind": the old workload must go before the new one runs, with the
// same pods' label, and the pods start over without their state.
func MarkKindSwitches(changes []Change) {
	type node struct{ namespace, name string }
	pruned := map[node]string{}
	for _, c := range changes {
		if c.Action == Prune && isWorkload(c.Ref) {
			pruned[node{c.Ref.Namespace, c.Ref.Name}] = c.Ref.Kind
		}
	}
	for i := range changes {
		c := &changes[i]
		if c.Action != Create || !isWorkload(c.Ref) {
			continue
		}
		if old, ok := pruned[node{c.Ref.Namespace, c.Ref.Name}]; ok && old != c.Ref.Kind {
			c.Action = Replace
			c.Immutable = []string{"kind"}
		}
	}
}

func isWorkload(r Ref) bool {
	return r.Group == "apps" && (r.Kind == "Deployment" || r.Kind == "StatefulSet")
}

// ImmutablePaths returns the paths of the immutable fields bkctl knows of for obj's kind.
func ImmutablePaths(obj *unstructured.Unstructured) [][]string {
	return immutablePaths[obj.GroupVersionKind().GroupKind()]
}
