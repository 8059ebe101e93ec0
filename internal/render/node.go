package render

import (
	"fmt"
	"maps"
	"strings"

	"github.com/containerd/platforms"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/bkctl/bkctl/internal/keys"
	"github.com/bkctl/bkctl/internal/spec"
)

// The names and paths buildx uses in a node's pod.
const (
	containerName    = "buildkitd"
	configVolumeName = "config"
	configMountPath  = "/etc/buildkit"
	configFileKey    = "buildkitd.toml"
	// stateVolumeName is the rootless emptyDir and the StatefulSet's claim template alike.
	stateVolumeName     = "buildkitd"
	rootlessStatePath   = "/home/user/.local/share/buildkit"
	memoryVolumeName    = "buildkit-memory"
	rootStatePath       = "/var/lib/buildkit"
	statefulServiceName = "buildkitd"
	// legacyAppArmorAnnotation is removed for rootless nodes, as buildx does, so that it cannot
	// contradict securityContext.appArmorProfile.
	legacyAppArmorAnnotation = "container.apparmor.security.beta.kubernetes.io/" + containerName
)

// nodeContext is one node with what it needs from its builder and file.
type nodeContext struct {
	builder   string
	namespace string
	set       ApplySetRef
	node      spec.Node
}

// renderNode returns the node's buildkitd.toml ConfigMap (when it has a config) and its
// Deployment, or StatefulSet when it has a persistent volume.
func renderNode(c nodeContext) ([]*unstructured.Unstructured, error) {
	n := c.node
	podLabels, err := c.podLabels()
	if err != nil {
		return nil, err
	}
	annotations, err := c.annotations()
	if err != nil {
		return nil, err
	}
	tmpl, err := c.podTemplate(podLabels, c.templateAnnotations(annotations))
	if err != nil {
		return nil, err
	}
	tmpl, err = patchPodTemplate(tmpl, n.PodTemplate, n.PodTemplateFields)
	if err != nil {
		return nil, err
	}
	if got := tmpl.Labels[keys.LabelApp]; got != n.Name {
		return nil, fmt.Errorf("podTemplate must keep label %s=%s, the workload's selector", keys.LabelApp, n.Name)
	}

	objLabels := maps.Clone(podLabels)
	objLabels[keys.LabelManagedBy] = keys.ManagedByValue
	objLabels[keys.LabelApplySetPartOf] = c.set.ID
	meta := metav1.ObjectMeta{Name: n.Name, Namespace: c.namespace, Labels: objLabels, Annotations: annotations}
	selector := &metav1.LabelSelector{MatchLabels: map[string]string{keys.LabelApp: n.Name}}
	replicas := n.Replicas

	var typed []runtime.Object
	if n.Buildkitd.Config != "" {
		typed = append(typed, c.configMap(annotations))
	}
	if pv := n.Storage.PersistentVolume; pv != nil {
		claim, err := claimTemplate(pv)
		if err != nil {
			return nil, err
		}
		typed = append(typed, &appsv1.StatefulSet{
			TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "StatefulSet"},
			ObjectMeta: meta,
			Spec: appsv1.StatefulSetSpec{
				ServiceName:          statefulServiceName,
				PodManagementPolicy:  appsv1.ParallelPodManagement,
				Replicas:             &replicas,
				Selector:             selector,
				Template:             tmpl,
				VolumeClaimTemplates: []corev1.PersistentVolumeClaim{claim},
			},
		})
	} else {
		typed = append(typed, &appsv1.Deployment{
			TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
			ObjectMeta: meta,
			Spec: appsv1.DeploymentSpec{
				Replicas: &replicas,
				Selector: selector,
				Template: tmpl,
			},
		})
	}

	out := make([]*unstructured.Unstructured, 0, len(typed))
	for _, t := range typed {
		u, err := toUnstructured(t)
		if err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, nil
}

// podLabels are buildx's labels (app=<node> and the user's) plus the builder label.
func (c nodeContext) podLabels() (map[string]string, error) {
	if errs := validation.IsValidLabelValue(c.builder); len(errs) > 0 {
		return nil, fmt.Errorf("builder name %q is not a valid label value: %s", c.builder, strings.Join(errs, "; "))
	}
	labels := map[string]string{keys.LabelApp: c.node.Name, keys.LabelBuilder: c.builder}
	for k, v := range c.node.Labels {
		switch k {
		case keys.LabelApp, keys.LabelBuilder, keys.LabelManagedBy, keys.LabelApplySetPartOf:
			return nil, fmt.Errorf("label %q is reserved and cannot be customized", k)
		}
		labels[k] = v
	}
	return labels, nil
}

// annotations are the user's plus buildx's platform annotation; buildx puts the same set on
// the workload, its pod template and the ConfigMap.
func (c nodeContext) annotations() (map[string]string, error) {
	annotations := map[string]string{}
	if len(c.node.Platforms) > 0 {
		p, err := formatPlatforms(c.node.Platforms)
		if err != nil {
			return nil, err
		}
		annotations[keys.AnnotationPlatform] = p
	}
	for k, v := range c.node.Annotations {
		if k == keys.AnnotationPlatform {
			return nil, fmt.Errorf("annotation %q is reserved and cannot be customized (hint: set platforms)", k)
		}
		annotations[k] = v
	}
	if c.node.Rootless {
		delete(annotations, legacyAppArmorAnnotation)
	}
	if len(annotations) == 0 {
		return nil, nil
	}
	return annotations, nil
}

// formatPlatforms normalizes platforms the way buildx's platformutil does (containerd's
// Normalize, then FormatAll), comma-splitting entries like buildx's --platform.
func formatPlatforms(in []string) (string, error) {
	var out []string
	for _, entry := range in {
		for _, s := range strings.Split(entry, ",") {
			p, err := platforms.Parse(s)
			if err != nil {
				return "", fmt.Errorf("parse platform %q: %w", s, err)
			}
			out = append(out, platforms.FormatAll(platforms.Normalize(p)))
		}
	}
	return strings.Join(out, ","), nil
}

func (c nodeContext) configMap(annotations map[string]string) *corev1.ConfigMap {
	return &corev1.ConfigMap{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: metav1.ObjectMeta{
			Name:      configMapName(c.node.Name),
			Namespace: c.namespace,
			Labels: map[string]string{
				keys.LabelManagedBy:      keys.ManagedByValue,
				keys.LabelApplySetPartOf: c.set.ID,
				keys.LabelBuilder:        c.builder,
			},
			Annotations: annotations,
		},
		Data: map[string]string{configFileKey: c.node.Buildkitd.Config},
	}
}

func configMapName(node string) string { return node + "-" + configVolumeName }

func claimTemplate(pv *spec.PersistentVolume) (corev1.PersistentVolumeClaim, error) {
	size, err := resource.ParseQuantity(pv.Size)
	if err != nil {
		return corev1.PersistentVolumeClaim{}, fmt.Errorf("storage.persistentVolume.size %q: %w", pv.Size, err)
	}
	claim := corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: stateVolumeName},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources: corev1.VolumeResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceStorage: size},
			},
		},
	}
	if pv.StorageClassName != "" {
		claim.Spec.StorageClassName = &pv.StorageClassName
	}
	return claim, nil
}
