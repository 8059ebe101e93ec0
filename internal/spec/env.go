package spec

import (
	"k8s.io/apimachinery/pkg/util/validation"
)

// envValue checks that an env entry at path has exactly one of value and valueFrom, and that
// valueFrom names exactly one valid Secret or ConfigMap key.
func (c *checker) envValue(path []string, e EnvVar) {
	sub := func(s ...string) []string { return append(path[:len(path):len(path)], s...) }
	_, hasValue := c.t.valuePos[pathKey(sub("value"))]
	switch {
	case hasValue && e.ValueFrom != nil:
		c.errorf(sub("valueFrom"), "set either value or valueFrom, not both")
	case !hasValue && e.ValueFrom == nil:
		c.errorf(path, "set value or valueFrom (hint: value: \"\" for an empty variable)")
	}
	if e.ValueFrom == nil {
		return
	}
	vf := sub("valueFrom")
	vf = vf[:len(vf):len(vf)] // each append below makes its own path
	s, m := e.ValueFrom.SecretKeyRef, e.ValueFrom.ConfigMapKeyRef
	switch {
	case s != nil && m != nil:
		c.errorf(append(vf, "configMapKeyRef"), "set either secretKeyRef or configMapKeyRef, not both")
	case s == nil && m == nil:
		c.errorf(vf, "set secretKeyRef or configMapKeyRef")
	}
	for _, ref := range []struct {
		field string
		r     *KeyRef
	}{{"secretKeyRef", s}, {"configMapKeyRef", m}} {
		if ref.r == nil {
			continue
		}
		c.subdomain(append(vf, ref.field, "name"), ref.r.Name)
		if errs := validation.IsConfigMapKey(ref.r.Key); len(errs) > 0 {
			c.errorf(append(vf, ref.field, "key"), "invalid key %q: %s", ref.r.Key, errs[0])
		}
	}
}
