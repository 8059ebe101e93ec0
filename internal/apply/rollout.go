package apply

import (
	"fmt"
	"strings"

	"github.com/fluxcd/cli-utils/pkg/kstatus/status"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
)

// rollout is what the wait keeps of a workload: its kstatus status and message, and why its
// controller cannot create pods, if it says so.
type rollout struct {
	status  status.Status
	message string
	// replicaFailure is the Deployment's ReplicaFailure condition (admission refused its pods,
	// e.g. for Pod Security, or a quota is exhausted), which the controller copies from the
	// ReplicaSet; "" when there is none.
	replicaFailure string
}

// rolloutOf computes the kstatus status of a Deployment or StatefulSet. kstatus reads only the
// workload's metadata, spec and status, so the pod template and managed fields are dropped
// before the conversion it needs.
func rolloutOf(obj runtime.Object) (r rollout, ok bool) {
	var apiVersion, kind string
	switch o := obj.(type) {
	case *appsv1.Deployment:
		o.Spec.Template = corev1.PodTemplateSpec{}
		o.ManagedFields = nil
		apiVersion, kind = "apps/v1", "Deployment"
		for _, c := range o.Status.Conditions {
			if c.Type == appsv1.DeploymentReplicaFailure && c.Status == corev1.ConditionTrue {
				r.replicaFailure = fmt.Sprintf("%s: %s", c.Reason, c.Message)
			}
		}
	case *appsv1.StatefulSet:
		o.Spec.Template = corev1.PodTemplateSpec{}
		o.Spec.VolumeClaimTemplates = nil
		o.ManagedFields = nil
		apiVersion, kind = "apps/v1", "StatefulSet"
	default:
		return r, false
	}
	u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return rollout{status: status.UnknownStatus, message: err.Error()}, true
	}
	u["apiVersion"], u["kind"] = apiVersion, kind
	res, err := status.Compute(&unstructured.Unstructured{Object: u})
	if err != nil {
		return rollout{status: status.UnknownStatus, message: err.Error()}, true
	}
	r.status, r.message = res.Status, res.Message
	return r, true
}

// podTrouble says why pod is not ready (unschedulable, image pull, crash), or "" when it is.
func podTrouble(pod *corev1.Pod) string {
	var reasons []string
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
			return ""
		}
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse {
			reasons = append(reasons, fmt.Sprintf("%s: %s", c.Reason, schedulerMessage(c.Message)))
		}
	}
	for _, cs := range pod.Status.ContainerStatuses {
		if w := cs.State.Waiting; w != nil {
			reasons = append(reasons, fmt.Sprintf("%s: %s", w.Reason, w.Message))
		}
	}
	if len(reasons) > 0 {
		return fmt.Sprintf("pod %s %s: %s", pod.Name, pod.Status.Phase, strings.Join(reasons, "; "))
	}
	return fmt.Sprintf("pod %s %s, not ready", pod.Name, pod.Status.Phase)
}

// schedulerMessage drops what the scheduler says about preemption from why a pod is
// unschedulable: builder pods have no priority, so it is always "not helpful".
func schedulerMessage(msg string) string {
	if i := strings.Index(msg, " preemption: "); i > 0 {
		return msg[:i]
	}
	return msg
}
