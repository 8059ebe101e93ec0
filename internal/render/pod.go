package render

import (
	"fmt"
	"maps"
	"slices"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bkctl/bkctl/internal/spec"
)

// Probes run buildx's command. Readiness is tuned so that a fresh pod is Ready a second or two
// after buildkitd listens (buildx waits 5 s and then probes every 30 s, which makes a builder
// ready only after ~35 s); liveness keeps buildx's values.
var (
	probeCommand   = []string{"buildctl", "debug", "workers"}
	readinessProbe = corev1.Probe{
		ProbeHandler:        corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: probeCommand}},
		InitialDelaySeconds: 1,
		PeriodSeconds:       2,
		TimeoutSeconds:      10,
		SuccessThreshold:    1,
		FailureThreshold:    3,
	}
	livenessProbe = corev1.Probe{
		ProbeHandler:        corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: probeCommand}},
		InitialDelaySeconds: 5,
		PeriodSeconds:       30,
		TimeoutSeconds:      60,
		SuccessThreshold:    1,
		FailureThreshold:    3,
	}
)

// podTemplate builds the pod template as buildx's manifest.NewDeployment does, in its order
// (which fixes the order of args, volumes and mounts), before any podTemplate patch.
func (c nodeContext) podTemplate(labels, annotations map[string]string) (corev1.PodTemplateSpec, error) {
	n := c.node
	args, err := buildkitdArgs(n.Buildkitd, n.Rootless)
	if err != nil {
		return corev1.PodTemplateSpec{}, err
	}
	image := n.Image
	if image == "" {
		image = spec.DefaultImage
		if n.Rootless {
			image = spec.DefaultRootlessImage
		}
	}
	resources, err := resourceRequirements(n.Resources)
	if err != nil {
		return corev1.PodTemplateSpec{}, err
	}
	ctr := corev1.Container{
		Name:            containerName,
		Image:           image,
		Args:            args,
		SecurityContext: &corev1.SecurityContext{Privileged: new(true)},
		ReadinessProbe:  new(readinessProbe),
		LivenessProbe:   new(livenessProbe),
		Resources:       resources,
	}
	pod := corev1.PodSpec{
		ServiceAccountName: n.ServiceAccountName,
		SchedulerName:      n.SchedulerName,
	}

	if n.Buildkitd.Config != "" {
		ctr.VolumeMounts = append(ctr.VolumeMounts, corev1.VolumeMount{Name: configVolumeName, MountPath: configMountPath})
		pod.Volumes = append(pod.Volumes, corev1.Volume{
			Name: configVolumeName,
			VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
				LocalObjectReference: corev1.LocalObjectReference{Name: configMapName(n.Name)},
			}},
		})
	}

	if n.Qemu.Install {
		qemuImage := n.Qemu.Image
		if qemuImage == "" {
			qemuImage = spec.DefaultQemuImage
		}
		pod.InitContainers = []corev1.Container{{
			Name:            "qemu",
			Image:           qemuImage,
			Args:            []string{"--install", "all"},
			SecurityContext: &corev1.SecurityContext{Privileged: new(true)},
		}}
	}

	memory, err := optionalQuantity("storage.memory", n.Storage.Memory)
	if err != nil {
		return corev1.PodTemplateSpec{}, err
	}
	if n.Rootless {
		ctr.SecurityContext = &corev1.SecurityContext{
			AppArmorProfile: &corev1.AppArmorProfile{Type: corev1.AppArmorProfileTypeUnconfined},
			SeccompProfile:  &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeUnconfined},
		}
		// The image declares this path a VOLUME too, but on some hosts (Container-Optimized OS)
		// that volume is mounted nosuid,nodev, which rootless buildkitd cannot use.
		ctr.VolumeMounts = append(ctr.VolumeMounts, corev1.VolumeMount{Name: stateVolumeName, MountPath: rootlessStatePath})
		emptyDir := &corev1.EmptyDirVolumeSource{}
		if memory != nil {
			emptyDir.Medium = corev1.StorageMediumMemory
			emptyDir.SizeLimit = memory
		}
		pod.Volumes = append(pod.Volumes, corev1.Volume{Name: stateVolumeName, VolumeSource: corev1.VolumeSource{EmptyDir: emptyDir}})
	}

	if len(n.NodeSelector) > 0 {
		pod.NodeSelector = maps.Clone(n.NodeSelector)
	}
	for _, t := range n.Tolerations {
		pod.Tolerations = append(pod.Tolerations, corev1.Toleration{
			Key:               t.Key,
			Operator:          corev1.TolerationOperator(t.Operator),
			Value:             t.Value,
			Effect:            corev1.TaintEffect(t.Effect),
			TolerationSeconds: t.TolerationSeconds,
		})
	}

	if memory != nil && !n.Rootless {
		ctr.VolumeMounts = append(ctr.VolumeMounts, corev1.VolumeMount{Name: memoryVolumeName, MountPath: rootStatePath})
		pod.Volumes = append(pod.Volumes, corev1.Volume{
			Name: memoryVolumeName,
			VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{
				Medium:    corev1.StorageMediumMemory,
				SizeLimit: memory,
			}},
		})
	}

	for _, e := range n.Env {
		ctr.Env = append(ctr.Env, envVar(e))
	}

	// A rootful StatefulSet mounts its claim at the buildkit root. buildx replaces all mounts
	// with this one, which unmounts the buildkitd.toml; bkctl appends it instead. A rootless one
	// needs no mount: the StatefulSet controller replaces the same-named emptyDir by the claim.
	if n.Storage.PersistentVolume != nil && !n.Rootless {
		ctr.VolumeMounts = append(ctr.VolumeMounts, corev1.VolumeMount{Name: stateVolumeName, MountPath: rootStatePath})
	}

	pod.Containers = []corev1.Container{ctr}
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: labels, Annotations: annotations},
		Spec:       pod,
	}, nil
}

// resourceRequirements maps requests and limits by resource name. Unlike buildx, which puts
// requests.ephemeral-storage into limits, a request stays a request.
func resourceRequirements(r spec.Resources) (corev1.ResourceRequirements, error) {
	var out corev1.ResourceRequirements
	var err error
	if out.Requests, err = resourceList("requests", r.Requests); err != nil {
		return out, err
	}
	if out.Limits, err = resourceList("limits", r.Limits); err != nil {
		return out, err
	}
	return out, nil
}

func resourceList(field string, in map[string]string) (corev1.ResourceList, error) {
	var out corev1.ResourceList
	for _, name := range slices.Sorted(maps.Keys(in)) {
		q, err := optionalQuantity(fmt.Sprintf("resources.%s.%s", field, name), in[name])
		if err != nil {
			return nil, err
		}
		if q == nil {
			continue
		}
		if out == nil {
			out = corev1.ResourceList{}
		}
		out[corev1.ResourceName(name)] = *q
	}
	return out, nil
}

// optionalQuantity parses s, returning nil for "".
func optionalQuantity(field, s string) (*resource.Quantity, error) {
	if s == "" {
		return nil, nil
	}
	q, err := resource.ParseQuantity(s)
	if err != nil {
		return nil, fmt.Errorf("%s %q: %w", field, s, err)
	}
	return &q, nil
}

// envVar is a node's environment variable as the container's; a valueFrom stays a reference,
// resolved by the kubelet, so that a Secret's value is never in a rendered object.
func envVar(e spec.EnvVar) corev1.EnvVar {
	out := corev1.EnvVar{Name: e.Name, Value: e.Value}
	if vf := e.ValueFrom; vf != nil {
		out.ValueFrom = &corev1.EnvVarSource{}
		if r := vf.SecretKeyRef; r != nil {
			out.ValueFrom.SecretKeyRef = &corev1.SecretKeySelector{
				LocalObjectReference: corev1.LocalObjectReference{Name: r.Name}, Key: r.Key, Optional: r.Optional,
			}
		}
		if r := vf.ConfigMapKeyRef; r != nil {
			out.ValueFrom.ConfigMapKeyRef = &corev1.ConfigMapKeySelector{
				LocalObjectReference: corev1.LocalObjectReference{Name: r.Name}, Key: r.Key, Optional: r.Optional,
			}
		}
	}
	return out
}
