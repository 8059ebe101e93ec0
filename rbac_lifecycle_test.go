package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// rbacStep is one bkctl command of a scenario and what must hold after it succeeded.
type rbacStep struct {
	name  string
	args  []string
	check func(t *testing.T, stdout string)
}

// runSteps runs steps[from:] with --kubeconfig kc. It returns the index of the first step that
// failed, with its exit code and streams, or -1 when all succeeded and passed their checks.
func runSteps(t *testing.T, kc string, steps []rbacStep, from int) (int, int, string, string) {
	t.Helper()
	for i := from; i < len(steps); i++ {
		s := steps[i]
		code, out, errs := runCluster(t, append(s.args, "--kubeconfig", kc)...)
		if code != 0 {
			return i, code, out, errs
		}
		if s.check != nil {
			s.check(t, out)
		}
	}
	return -1, 0, "", ""
}

// The builders file of the apply scenario, in three versions: two nodes (a Deployment with a
// buildkitd.toml ConfigMap, a StatefulSet with a claim); the Deployment scaled; the
// StatefulSet and the ConfigMap removed.
const rbacBuilders = `apiVersion: bkctl/v1alpha1
kind: Builders
metadata: {name: rbac, namespace: NS}
builders:
  - name: kube
    createNamespace: CREATE
    nodes:
      - name: amd
        platforms: [linux/amd64]
        nodeSelector: {kubernetes.io/arch: amd64}
        replicas: REPLICAS
        timeout: 60s
CONFIG
`

const rbacConfigNode = `        buildkitd:
          config: |
            debug = true
`

const rbacCacheNode = `      - name: cache
        platforms: [linux/arm64]
        nodeSelector: {kubernetes.io/arch: arm64}
        timeout: 60s
        storage: {persistentVolume: {size: 1Gi, storageClassName: NS}}
`

func writeRBACBuilders(t *testing.T, ns string, createNamespace bool, replicas string, cacheNode bool) string {
	t.Helper()
	config := ""
	if cacheNode {
		config = rbacConfigNode + rbacCacheNode
	}
	body := strings.NewReplacer("CONFIG\n", config, "REPLICAS", replicas, "CREATE", map[bool]string{true: "true", false: "false"}[createNamespace]).Replace(rbacBuilders)
	body = strings.ReplaceAll(body, "NS", ns)
	path := filepath.Join(t.TempDir(), "builders.yaml")
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// applyScenario returns the steps that exercise every right of plan, apply and delete: create
// (with a wait for both workloads), update, plan, prune (with --prune-pvcs), delete. A
// StatefulSet's claim binds to a static volume (the test cluster has no provisioner), deleted
// when the test ends.
func applyScenario(t *testing.T, ns string, createNamespace bool) []rbacStep {
	t.Helper()
	cs, err := kubernetes.NewForConfig(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pv := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: ns},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")},
			AccessModes:                   []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			StorageClassName:              ns,
			PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimRetain,
			PersistentVolumeSource:        corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/tmp/" + ns}},
		},
	}
	if _, err := cs.CoreV1().PersistentVolumes().Create(ctx, pv, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cs.CoreV1().PersistentVolumes().Delete(context.Background(), ns, metav1.DeleteOptions{}) })

	v1 := writeRBACBuilders(t, ns, createNamespace, "1", true)
	v2 := writeRBACBuilders(t, ns, createNamespace, "2", true)
	v3 := writeRBACBuilders(t, ns, createNamespace, "2", false)
	exists := func(t *testing.T, what string, get func(context.Context) error) {
		t.Helper()
		if err := get(context.Background()); err != nil {
			t.Errorf("%s: %v", what, err)
		}
	}
	gone := func(t *testing.T, what string, get func(context.Context) (metav1.Object, error)) {
		t.Helper()
		o, err := get(context.Background())
		if err == nil && o.GetDeletionTimestamp() == nil {
			t.Errorf("%s still exists", what)
		} else if err != nil && !apierrors.IsNotFound(err) {
			t.Errorf("%s: %v", what, err)
		}
	}
	deploy := func(ctx context.Context) (metav1.Object, error) {
		return cs.AppsV1().Deployments(ns).Get(ctx, "amd", metav1.GetOptions{})
	}
	sts := func(ctx context.Context) (metav1.Object, error) {
		return cs.AppsV1().StatefulSets(ns).Get(ctx, "cache", metav1.GetOptions{})
	}
	config := func(ctx context.Context) (metav1.Object, error) {
		return cs.CoreV1().ConfigMaps(ns).Get(ctx, "amd-config", metav1.GetOptions{})
	}
	claim := func(ctx context.Context) (metav1.Object, error) {
		return cs.CoreV1().PersistentVolumeClaims(ns).Get(ctx, "buildkitd-cache-0", metav1.GetOptions{})
	}
	parent := func(ctx context.Context) (metav1.Object, error) {
		return cs.CoreV1().ConfigMaps(ns).Get(ctx, "bkctl-applyset-rbac", metav1.GetOptions{})
	}
	ignore := func(get func(context.Context) (metav1.Object, error)) func(context.Context) error {
		return func(ctx context.Context) error { _, err := get(ctx); return err }
	}
	return []rbacStep{
		{name: "apply (create)", args: []string{"apply", "-f", v1}, check: func(t *testing.T, _ string) {
			exists(t, "Deployment amd", ignore(deploy))
			exists(t, "StatefulSet cache", ignore(sts))
			exists(t, "ConfigMap amd-config", ignore(config))
			exists(t, "claim buildkitd-cache-0", ignore(claim))
		}},
		{name: "apply (update)", args: []string{"apply", "-f", v2}, check: func(t *testing.T, _ string) {
			d, err := cs.AppsV1().Deployments(ns).Get(context.Background(), "amd", metav1.GetOptions{})
			if err != nil || d.Spec.Replicas == nil || *d.Spec.Replicas != 2 {
				t.Errorf("Deployment amd after the update: %v, %v", replicas(d), err)
			}
		}},
		{name: "plan", args: []string{"plan", "-f", v2, "--exit-code"}, check: func(t *testing.T, out string) {
			if !strings.Contains(out, "in sync") {
				t.Errorf("plan after the update is not in sync:\n%s", out)
			}
		}},
		{name: "apply (prune)", args: []string{"apply", "-f", v3, "--prune-pvcs"}, check: func(t *testing.T, _ string) {
			gone(t, "StatefulSet cache", sts)
			gone(t, "ConfigMap amd-config", config)
			gone(t, "claim buildkitd-cache-0", claim)
			exists(t, "Deployment amd", ignore(deploy))
		}},
		{name: "delete", args: []string{"delete", "-f", v3, "--yes"}, check: func(t *testing.T, _ string) {
			gone(t, "Deployment amd", deploy)
			gone(t, "the inventory", parent)
		}},
	}
}

func replicas(d *appsv1.Deployment) any {
	if d == nil || d.Spec.Replicas == nil {
		return nil
	}
	return *d.Spec.Replicas
}
