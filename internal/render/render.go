// Package render turns a loaded builders.yaml into the Kubernetes objects that docker buildx
// create --driver kubernetes would create for it, plus bkctl's labels and improvements.
package render

import (
	"errors"
	"fmt"
	"sort"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/bkctl/bkctl/internal/keys"
	"github.com/bkctl/bkctl/internal/spec"
)

// Pod Security labels of a namespace render creates: buildkitd runs privileged (or, rootless,
// with unconfined seccomp and AppArmor), which only the "privileged" level admits.
var podSecurityLabels = map[string]string{
	"pod-security.kubernetes.io/enforce": "privileged",
	"pod-security.kubernetes.io/warn":    "privileged",
	"pod-security.kubernetes.io/audit":   "privileged",
}

// kindOrder is the order of kinds in Render's result: namespaces before what lives in them,
// ConfigMaps before the pods that mount them.
var kindOrder = map[string]int{"Namespace": 0, "ConfigMap": 1, "Deployment": 2, "StatefulSet": 3}

// Render returns the objects of every builder in f, sorted by kind (Namespace, ConfigMap,
// Deployment, StatefulSet), then namespace, then name, so that the result does not depend on
// the order of builders and nodes in the file. Every node's error is reported, joined.
func Render(f *spec.File) ([]*unstructured.Unstructured, error) {
	set := ApplySet(f)
	var (
		objs []*unstructured.Unstructured
		errs []error
	)
	namespaces := map[string]bool{}
	workloads := map[string]string{} // namespace/node → builder that renders it
	for _, b := range f.Builders {
		ns := b.Namespace
		if ns == "" {
			ns = f.Metadata.Namespace
		}
		if ns == "" {
			errs = append(errs, posErrorf(b.Pos, "builder %q has no namespace (hint: set metadata.namespace)", b.Name))
			continue
		}
		if b.CreateNamespace && !namespaces[ns] {
			namespaces[ns] = true
			obj, err := toUnstructured(namespaceObject(ns, set))
			if err != nil {
				errs = append(errs, posErrorf(b.Pos, "render namespace %q: %v", ns, err))
				continue
			}
			objs = append(objs, obj)
		}
		for i, n := range b.Nodes {
			if n.Name == "" {
				n.Name = fmt.Sprintf("%s%d", b.Name, i)
			}
			key := ns + "/" + n.Name
			if other, ok := workloads[key]; ok {
				errs = append(errs, posErrorf(n.Pos, "node %q in namespace %q is already defined by builder %q", n.Name, ns, other))
				continue
			}
			workloads[key] = b.Name
			nodeObjs, err := renderNode(nodeContext{builder: b.Name, namespace: ns, set: set, node: n})
			if err != nil {
				errs = append(errs, posErrorf(n.Pos, "node %q: %v", n.Name, err))
				continue
			}
			objs = append(objs, nodeObjs...)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	sortObjects(objs)
	return objs, nil
}

func sortObjects(objs []*unstructured.Unstructured) {
	sort.SliceStable(objs, func(i, j int) bool {
		a, b := objs[i], objs[j]
		if ka, kb := kindOrder[a.GetKind()], kindOrder[b.GetKind()]; ka != kb {
			return ka < kb
		}
		if a.GetNamespace() != b.GetNamespace() {
			return a.GetNamespace() < b.GetNamespace()
		}
		return a.GetName() < b.GetName()
	})
}

func namespaceObject(name string, set ApplySetRef) *corev1.Namespace {
	labels := map[string]string{
		keys.LabelManagedBy:      keys.ManagedByValue,
		keys.LabelApplySetPartOf: set.ID,
	}
	for k, v := range podSecurityLabels {
		labels[k] = v
	}
	return &corev1.Namespace{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Namespace"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
	}
}

// toUnstructured converts a typed object and drops what the conversion adds but no one wrote:
// the status (a StatefulSet's has non-omitempty counters), null creationTimestamps, and empty
// spec, strategy and resources.
func toUnstructured(obj runtime.Object) (*unstructured.Unstructured, error) {
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return nil, err
	}
	delete(m, "status")
	return &unstructured.Unstructured{Object: prune(m)}, nil
}

// droppableWhenEmpty are the keys whose empty value means the same as their absence. Other empty
// maps (emptyDir: {}) carry meaning and stay.
var droppableWhenEmpty = map[string]bool{
	"status": true, "spec": true, "strategy": true, "updateStrategy": true, "resources": true,
}

// prune returns m without those values, in maps of the size they need: the converter makes
// each map as large as its struct has fields (a pod spec's has room for forty), which for a
// fleet of thousands of nodes is most of the memory its rendering holds.
func prune(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		switch v := v.(type) {
		case nil:
			continue
		case map[string]any:
			v = prune(v)
			if len(v) == 0 && droppableWhenEmpty[k] {
				continue
			}
			out[k] = v
		case []any:
			for i, e := range v {
				if em, ok := e.(map[string]any); ok {
					v[i] = prune(em)
				}
			}
			out[k] = v
		default:
			out[k] = v
		}
	}
	return out
}

// Error is a problem with one builder or node, at its position in the builders file; Render
// joins one per builder or node that fails.
type Error struct {
	Pos     spec.Pos
	Message string
}

// Error formats the error as "file:line:col: message", leaving out the parts of Pos that are
// unknown.
func (e *Error) Error() string {
	if e.Pos.File == "" {
		return e.Message
	}
	return e.Pos.String() + ": " + e.Message
}

func posErrorf(pos spec.Pos, format string, args ...any) error {
	return &Error{Pos: pos, Message: fmt.Sprintf(format, args...)}
}
