package render

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	kjson "sigs.k8s.io/json"
)

// patchPodTemplate applies the podTemplate patches in order as strategic-merge patches of a
// PodTemplateSpec. A patch that leaves fields the PodTemplateSpec does not have is an error,
// not silently dropped; it names the patch by its field in fields when known.
func patchPodTemplate(tmpl corev1.PodTemplateSpec, patches []map[string]any, fields []string) (corev1.PodTemplateSpec, error) {
	if len(patches) == 0 {
		return tmpl, nil
	}
	doc, err := json.Marshal(tmpl)
	if err != nil {
		return tmpl, fmt.Errorf("encode pod template: %w", err)
	}
	var out corev1.PodTemplateSpec
	for i, p := range patches {
		name := fmt.Sprintf("apply podTemplate patch %d", i+1)
		if i < len(fields) && len(fields) == len(patches) {
			name = fields[i]
		}
		patch, err := json.Marshal(p)
		if err != nil {
			return tmpl, fmt.Errorf("%s: encode: %w", name, err)
		}
		doc, err = strategicpatch.StrategicMergePatch(doc, patch, corev1.PodTemplateSpec{})
		if err != nil {
			return tmpl, fmt.Errorf("%s: %w", name, err)
		}
		// Decoding after each patch names the patch that broke the template.
		out = corev1.PodTemplateSpec{}
		strict, err := kjson.UnmarshalStrict(doc, &out)
		if err == nil && len(strict) > 0 {
			err = errors.Join(strict...)
		}
		if err != nil {
			return tmpl, fmt.Errorf("%s: %w", name, inFileTerms(err))
		}
	}
	return out, nil
}

var jsonTypeErrorRE = regexp.MustCompile(`^json: cannot unmarshal (\w+)(?: \S+)? into Go (?:struct field \w+\.(\S+)|value) of type \*?(\S+)$`)

// inFileTerms rewrites a decoding error about a patched pod template, which speaks of Go types
// ("cannot unmarshal string into Go struct field PodSpec.spec.hostNetwork of type bool"), in
// the terms of the builders file ("spec.hostNetwork: must be boolean, not string").
func inFileTerms(err error) error {
	m := jsonTypeErrorRE.FindStringSubmatch(err.Error())
	if m == nil {
		return err
	}
	kinds := map[string]string{"bool": "boolean", "string": "string", "number": "number", "array": "list", "object": "mapping"}
	got, want := kinds[m[1]], "mapping"
	switch t := m[3]; {
	case t == "bool" || t == "string":
		want = kinds[t]
	case strings.HasPrefix(t, "int") || strings.HasPrefix(t, "uint"):
		want = "integer"
	case strings.HasPrefix(t, "float"):
		want = "number"
	case strings.HasPrefix(t, "[]"):
		want = "list"
	}
	if got == "" {
		got = m[1]
	}
	field := m[2]
	if field == "" {
		return fmt.Errorf("must be %s, not %s", want, got)
	}
	return fmt.Errorf("%s: must be %s, not %s", field, want, got)
}
