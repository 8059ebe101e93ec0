package testenv_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/bkctl/bkctl/internal/testenv"
)

// builderDeployment is a Deployment shaped like buildx's kubernetes driver makes them.
func builderDeployment(name, arch string, replicas int) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apps/v1",
		"kind":       "Deployment",
		"metadata":   map[string]any{"name": name, "labels": map[string]any{"app": name}},
		"spec": map[string]any{
			"replicas": int64(replicas),
			"selector": map[string]any{"matchLabels": map[string]any{"app": name}},
			"template": map[string]any{
				"metadata": map[string]any{"labels": map[string]any{"app": name}},
				"spec": map[string]any{
					"nodeSelector": map[string]any{corev1.LabelArchStable: arch},
					"containers": []any{map[string]any{
						"name":            "buildkitd",
						"image":           "moby/buildkit:buildx-stable-1",
						"securityContext": map[string]any{"privileged": true},
					}},
				},
			},
		},
	}}
}

var deploymentsGVR = appsv1.SchemeGroupVersion.WithResource("deployments")

func apply(ctx context.Context, t *testing.T, ns, manager string, obj *unstructured.Unstructured, dryRun, force bool) (*unstructured.Unstructured, error) {
	t.Helper()
	return applyIn(ctx, t, env, ns, manager, obj, dryRun, force)
}

// applyIn is apply in the environment e.
func applyIn(ctx context.Context, t *testing.T, e *testenv.Env, ns, manager string, obj *unstructured.Unstructured, dryRun, force bool) (*unstructured.Unstructured, error) {
	t.Helper()
	b, err := json.Marshal(obj.Object)
	if err != nil {
		t.Fatal(err)
	}
	opts := metav1.PatchOptions{FieldManager: manager, Force: &force}
	if dryRun {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	return dynamic.NewForConfigOrDie(e.Config).Resource(deploymentsGVR).Namespace(ns).
		Patch(ctx, obj.GetName(), types.ApplyPatchType, b, opts)
}

func TestServerSideApply(t *testing.T) {
	ctx := t.Context()
	ns := env.Namespace(t)
	want := builderDeployment("ssa", "amd64", 1)

	live, err := apply(ctx, t, ns, "bkctl", want, false, false)
	if err != nil {
		t.Fatalf("apply: %v", err)
	}
	// defaults only the server fills in
	if got, _, _ := unstructured.NestedString(live.Object, "spec", "strategy", "type"); got != "RollingUpdate" {
		t.Errorf("spec.strategy.type = %q, want the server default RollingUpdate", got)
	}
	if got, _, _ := unstructured.NestedString(live.Object, "spec", "template", "spec", "restartPolicy"); got != "Always" {
		t.Errorf("restartPolicy = %q, want the server default Always", got)
	}
	if !ownsField(live, "bkctl", "f:replicas") {
		t.Errorf("bkctl does not own spec.replicas after apply: %v", live.GetManagedFields())
	}

	// dry-run: the merged result comes back, nothing is stored
	changed := builderDeployment("ssa", "amd64", 3)
	dry, err := apply(ctx, t, ns, "bkctl", changed, true, false)
	if err != nil {
		t.Fatalf("dry-run apply: %v", err)
	}
	if got, _, _ := unstructured.NestedInt64(dry.Object, "spec", "replicas"); got != 3 {
		t.Errorf("dry-run spec.replicas = %d, want 3", got)
	}
	if got, _, _ := unstructured.NestedString(dry.Object, "spec", "template", "spec", "dnsPolicy"); got != "ClusterFirst" {
		t.Errorf("dry-run dnsPolicy = %q, want the server default ClusterFirst", got)
	}
	stored, err := dynamic.NewForConfigOrDie(env.Config).Resource(deploymentsGVR).Namespace(ns).Get(ctx, "ssa", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got, _, _ := unstructured.NestedInt64(stored.Object, "spec", "replicas"); got != 1 {
		t.Errorf("after dry-run the stored spec.replicas = %d, want 1", got)
	}

	// another field manager: a conflict unless forced, then it owns the field
	_, err = apply(ctx, t, ns, "kubectl-edit", builderDeployment("ssa", "amd64", 5), false, false)
	if !apierrors.IsConflict(err) {
		t.Fatalf("apply by another manager: err = %v, want a conflict", err)
	}
	if !strings.Contains(err.Error(), `conflict with "bkctl"`) || !strings.Contains(err.Error(), ".spec.replicas") {
		t.Errorf("conflict error does not name the owner and field: %v", err)
	}
	forced, err := apply(ctx, t, ns, "kubectl-edit", builderDeployment("ssa", "amd64", 5), false, true)
	if err != nil {
		t.Fatalf("forced apply: %v", err)
	}
	if got, _, _ := unstructured.NestedInt64(forced.Object, "spec", "replicas"); got != 5 {
		t.Errorf("after forced apply spec.replicas = %d, want 5", got)
	}
	if ownsField(forced, "bkctl", "f:replicas") || !ownsField(forced, "kubectl-edit", "f:replicas") {
		t.Errorf("spec.replicas did not move to kubectl-edit: %v", forced.GetManagedFields())
	}
}

// ownsField reports whether manager's applied field set has field directly under spec.
func ownsField(obj *unstructured.Unstructured, manager, field string) bool {
	for _, mf := range obj.GetManagedFields() {
		if mf.Manager != manager || mf.FieldsV1 == nil {
			continue
		}
		var fields map[string]map[string]any
		if err := json.Unmarshal(mf.FieldsV1.Raw, &fields); err != nil {
			continue
		}
		if _, ok := fields["f:spec"][field]; ok {
			return true
		}
	}
	return false
}

func TestArm64DeploymentReady(t *testing.T) {
	ctx := t.Context()
	ns := env.Namespace(t)
	if _, err := apply(ctx, t, ns, "bkctl", builderDeployment("builder-arm64", "arm64", 2), false, false); err != nil {
		t.Fatal(err)
	}
	pods := waitReadyPods(ctx, t, ns, "builder-arm64", 2)
	for _, p := range pods {
		if p.Spec.NodeName != testenv.NodeARM64 {
			t.Errorf("pod %s is on node %q, want %s", p.Name, p.Spec.NodeName, testenv.NodeARM64)
		}
	}
	cs := kubernetes.NewForConfigOrDie(env.Config)
	waitFor(ctx, t, "Deployment/builder-arm64 readyReplicas=2", func() (bool, error) {
		d, err := cs.AppsV1().Deployments(ns).Get(ctx, "builder-arm64", metav1.GetOptions{})
		return err == nil && d.Status.ReadyReplicas == 2 && d.Status.ObservedGeneration == d.Generation, err
	})
}

// waitReadyPods waits until exactly n pods with app=name are Ready and returns them.
func waitReadyPods(ctx context.Context, t *testing.T, ns, name string, n int) []corev1.Pod {
	t.Helper()
	return waitReadyPodsIn(ctx, t, env, ns, name, n)
}

// waitReadyPodsIn is waitReadyPods in the environment e.
func waitReadyPodsIn(ctx context.Context, t *testing.T, e *testenv.Env, ns, name string, n int) []corev1.Pod {
	t.Helper()
	cs := kubernetes.NewForConfigOrDie(e.Config)
	var ready []corev1.Pod
	waitFor(ctx, t, fmt.Sprintf("%d Ready pods app=%s", n, name), func() (bool, error) {
		list, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=" + name})
		if err != nil {
			return false, err
		}
		ready = ready[:0]
		for _, p := range list.Items {
			for _, c := range p.Status.Conditions {
				if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue && p.DeletionTimestamp == nil {
					ready = append(ready, p)
				}
			}
		}
		return len(ready) == n && len(list.Items) == n, nil
	})
	return ready
}

func waitFor(ctx context.Context, t *testing.T, what string, f func() (bool, error)) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	for {
		ok, err := f()
		if err != nil {
			t.Fatalf("wait for %s: %v", what, err)
		}
		if ok {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("wait for %s: %v", what, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}
