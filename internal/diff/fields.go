package diff

import (
	"fmt"
	"reflect"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// serverMetadata are the metadata fields the API server maintains; they change on every write
// and never say anything about what the user declared.
var serverMetadata = []string{
	"managedFields", "resourceVersion", "generation", "uid", "creationTimestamp", "selfLink",
}

// Normalize returns a copy of obj without status and server-maintained metadata, with Secret
// data masked: the form that plans compare and print.
func Normalize(obj *unstructured.Unstructured) *unstructured.Unstructured {
	if obj == nil {
		return nil
	}
	c := obj.DeepCopy()
	delete(c.Object, "status")
	if md, ok := c.Object["metadata"].(map[string]any); ok {
		for _, k := range serverMetadata {
			delete(md, k)
		}
	}
	return c
}

// ChangedFields returns the paths whose values differ between the normalized live and merged
// objects, sorted: "spec.replicas", "spec.template.spec.containers[name=buildkitd].image".
func ChangedFields(live, merged *unstructured.Unstructured) []string {
	var out []string
	walk("", Normalize(live).Object, Normalize(merged).Object, &out)
	sort.Strings(out)
	return out
}

func walk(path string, a, b any, out *[]string) {
	if reflect.DeepEqual(a, b) {
		return
	}
	switch av := a.(type) {
	case map[string]any:
		bv, ok := b.(map[string]any)
		if !ok {
			break
		}
		for k, x := range av {
			walk(join(path, k), x, bv[k], out)
		}
		for k, y := range bv {
			if _, ok := av[k]; !ok {
				walk(join(path, k), nil, y, out)
			}
		}
		return
	case []any:
		bv, ok := b.([]any)
		if !ok {
			break
		}
		if keyed(av) && keyed(bv) {
			bm := map[string]any{}
			for _, y := range bv {
				bm[y.(map[string]any)["name"].(string)] = y
			}
			seen := map[string]bool{}
			for _, x := range av {
				n := x.(map[string]any)["name"].(string)
				seen[n] = true
				walk(fmt.Sprintf("%s[name=%s]", path, n), x, bm[n], out)
			}
			for _, y := range bv {
				if n := y.(map[string]any)["name"].(string); !seen[n] {
					walk(fmt.Sprintf("%s[name=%s]", path, n), nil, y, out)
				}
			}
			return
		}
		if len(av) == len(bv) {
			for i := range av {
				walk(fmt.Sprintf("%s[%d]", path, i), av[i], bv[i], out)
			}
			return
		}
	}
	*out = append(*out, path)
}

// keyed reports whether every element of l is a map with a string "name", the merge key of
// containers, volumes, env and ports.
func keyed(l []any) bool {
	if len(l) == 0 {
		return false
	}
	for _, e := range l {
		m, ok := e.(map[string]any)
		if !ok {
			return false
		}
		if _, ok := m["name"].(string); !ok {
			return false
		}
	}
	return true
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	if strings.ContainsAny(key, "./") {
		return fmt.Sprintf("%s[%s]", path, key)
	}
	return path + "." + key
}
