package diff

import (
	"reflect"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// Compact returns c as a plan of many objects keeps it: its diff is computed now, and Live and
// Merged keep only what the steps after a plan read of them, namely the metadata without
// managed fields, the spec without the pod template but its containers' name, image and
// security context (for the summary), and the status (for the wait). A decoded object holds
// several times its JSON in maps, so keeping both whole for each of thousands of objects is
// most of a plan's memory.
//
// Creates are kept as they are: their diff is the rendered object, which the plan keeps anyway,
// and a create may become the replace of a node that changes kind (MarkKindSwitches), whose
// diff is its dry-run. Prunes are kept whole too: their delete reads the live object.
func Compact(c Change) Change {
	if c.diffed || c.Action == Create || c.Action == Prune {
		return c
	}
	if before, after, ok := sides(c); ok {
		c.lines, c.diffed = pack(lineDiff(toYAML(before), toYAML(after))), true
	}
	live := trim(c.Live)
	if c.Merged == c.Live {
		c.Live, c.Merged = live, live
	} else {
		c.Live, c.Merged = live, share(trim(c.Merged), live)
	}
	return c
}

// share makes o use the values of like where they are equal: its status, and its metadata's and
// spec's fields one by one. A dry-run returns most of an object as it is live, and one copy of
// that is enough.
func share(o, like *unstructured.Unstructured) *unstructured.Unstructured {
	if o == nil || like == nil {
		return o
	}
	if v, ok := like.Object["status"]; ok && reflect.DeepEqual(v, o.Object["status"]) {
		o.Object["status"] = v
	}
	for _, part := range []string{"metadata", "spec"} {
		m, _ := o.Object[part].(map[string]any)
		lm, _ := like.Object[part].(map[string]any)
		if m == nil || lm == nil {
			continue
		}
		for k, v := range lm {
			if w, ok := m[k]; ok && reflect.DeepEqual(v, w) {
				m[k] = v
			}
		}
	}
	return o
}

// pack writes a line diff as one string, a line each, its op first: a copy that holds none of
// the strings the diff was computed from.
func pack(ls []line) string {
	n := 0
	for _, l := range ls {
		n += len(l.text) + 2
	}
	var b strings.Builder
	b.Grow(n)
	for _, l := range ls {
		b.WriteByte(l.op)
		b.WriteString(l.text)
		b.WriteByte('\n')
	}
	return b.String()
}

// unpack reads what pack wrote.
func unpack(s string) []line {
	var out []line
	for l := range strings.Lines(s) {
		out = append(out, line{op: l[0], text: strings.TrimSuffix(l[1:], "\n")})
	}
	return out
}

// trim returns a shallow copy of o without managed fields, volume claim templates and the pod
// template but its containers' name, image and security context; nil for nil.
func trim(o *unstructured.Unstructured) *unstructured.Unstructured {
	if o == nil {
		return nil
	}
	out := make(map[string]any, len(o.Object))
	for k, v := range o.Object {
		switch m, _ := v.(map[string]any); {
		case k == "metadata" && m != nil:
			v = without(m, "managedFields")
		case k == "spec" && m != nil:
			spec := without(m, "template", "volumeClaimTemplates")
			if t, ok := m["template"].(map[string]any); ok {
				spec["template"] = trimTemplate(t)
			}
			v = spec
		}
		out[k] = v
	}
	return &unstructured.Unstructured{Object: out}
}

// trimTemplate keeps of a pod template its metadata and its containers' name, image and
// security context.
func trimTemplate(t map[string]any) map[string]any {
	out := map[string]any{}
	if md, ok := t["metadata"]; ok {
		out["metadata"] = md
	}
	cs, _, _ := unstructured.NestedFieldNoCopy(t, "spec", "containers")
	list, _ := cs.([]any)
	if len(list) == 0 {
		return out
	}
	kept := make([]any, 0, len(list))
	for _, c := range list {
		m, ok := c.(map[string]any)
		if !ok {
			continue
		}
		k := map[string]any{}
		for _, f := range []string{"name", "image", "securityContext"} {
			if v, ok := m[f]; ok {
				k[f] = v
			}
		}
		kept = append(kept, k)
	}
	out["spec"] = map[string]any{"containers": kept}
	return out
}

// without returns a shallow copy of m without the keys drop.
func without(m map[string]any, drop ...string) map[string]any {
	out := make(map[string]any, len(m))
outer:
	for k, v := range m {
		for _, d := range drop {
			if k == d {
				continue outer
			}
		}
		out[k] = v
	}
	return out
}
