package diff

import (
	"reflect"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// Masks that replace Secret values in every rendering of a plan: the same mask on both sides
// when a value is unchanged, a different one when it changes, so the diff shows that without
// showing what.
const (
	maskSame   = "***"
	maskBefore = "*** (before)"
	maskAfter  = "*** (after)"
)

// maskSecrets returns copies of before and after with the values of a Secret's data and
// stringData replaced. Either may be nil; other kinds are returned as they are.
func maskSecrets(before, after *unstructured.Unstructured) (*unstructured.Unstructured, *unstructured.Unstructured) {
	isSecret := func(o *unstructured.Unstructured) bool {
		return o != nil && o.GetKind() == "Secret" && o.GroupVersionKind().Group == ""
	}
	if !isSecret(before) && !isSecret(after) {
		return before, after
	}
	if before != nil {
		before = before.DeepCopy()
	}
	if after != nil {
		after = after.DeepCopy()
	}
	for _, key := range []string{"data", "stringData"} {
		var b, a map[string]any
		if before != nil {
			b, _ = before.Object[key].(map[string]any)
		}
		if after != nil {
			a, _ = after.Object[key].(map[string]any)
		}
		for k, bv := range b {
			if av, ok := a[k]; ok {
				if reflect.DeepEqual(av, bv) {
					b[k], a[k] = maskSame, maskSame
				} else {
					b[k], a[k] = maskBefore, maskAfter
				}
			} else {
				b[k] = maskSame
			}
		}
		for k := range a {
			if _, ok := b[k]; !ok {
				a[k] = maskSame
			}
		}
	}
	return before, after
}
