package render

import (
	"encoding/json"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	kjson "sigs.k8s.io/json"
)

// patchPodTemplate applies the podTemplate patches in order as strategic-merge patches of a
// PodTemplateSpec. A patch that leaves fields the PodTemplateSpec does not have is an error,
// not silently dropped.
func patchPodTemplate(tmpl corev1.PodTemplateSpec, patches []map[string]any) (corev1.PodTemplateSpec, error) {
	if len(patches) == 0 {
		return tmpl, nil
	}
	doc, err := json.Marshal(tmpl)
	if err != nil {
		return tmpl, fmt.Errorf("encode pod template: %w", err)
	}
	var out corev1.PodTemplateSpec
	for i, p := range patches {
		patch, err := json.Marshal(p)
		if err != nil {
			return tmpl, fmt.Errorf("encode podTemplate patch %d: %w", i+1, err)
		}
		doc, err = strategicpatch.StrategicMergePatch(doc, patch, corev1.PodTemplateSpec{})
		if err != nil {
			return tmpl, fmt.Errorf("apply podTemplate patch %d: %w", i+1, err)
		}
		// Decoding after each patch names the patch that broke the template.
		out = corev1.PodTemplateSpec{}
		strict, err := kjson.UnmarshalStrict(doc, &out)
		if err == nil && len(strict) > 0 {
			err = errors.Join(strict...)
		}
		if err != nil {
			return tmpl, fmt.Errorf("apply podTemplate patch %d: %w", i+1, err)
		}
	}
	return out, nil
}
