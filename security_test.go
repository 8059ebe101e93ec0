package main

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"

	"github.com/bkctl/bkctl/internal/render"
	"github.com/bkctl/bkctl/internal/spec"
)

// TestPodSecurityLevels checks what the README says about Pod Security Standards against the
// API server's own admission: the pod of every kind of node (privileged, rootless, with
// qemu.install) is refused by the baseline level, for the fields named here, and admitted by
// the privileged level, which createNamespace labels a namespace with.
func TestPodSecurityLevels(t *testing.T) {
	lazy.Require(t)
	cs, err := kubernetes.NewForConfig(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	levels := map[string]string{}
	for _, level := range []string{"baseline", "privileged"} {
		ns := env.Namespace(t)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		patch := `{"metadata":{"labels":{"pod-security.kubernetes.io/enforce":"` + level + `"}}}`
		_, err := cs.CoreV1().Namespaces().Patch(ctx, ns, "application/merge-patch+json", []byte(patch), metav1.PatchOptions{})
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		levels[level] = ns
	}
	tests := map[string]struct {
		node string
		// baseline are the refusals the baseline level must name.
		baseline []string
	}{
		"privileged": {node: "", baseline: []string{`container "buildkitd" must not set securityContext.privileged=true`}},
		"rootless": {node: "rootless: true", baseline: []string{
			`container "buildkitd" must not set AppArmor profile type to "Unconfined"`,
			`container "buildkitd" must not set securityContext.seccompProfile.type to "Unconfined"`,
		}},
		"rootless with qemu.install": {node: "rootless: true\n        qemu: {install: true}", baseline: []string{
			`container "qemu" must not set securityContext.privileged=true`,
		}},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			pod := renderedPod(t, tt.node)
			for level, ns := range levels {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				_, err := cs.CoreV1().Pods(ns).Create(ctx, pod.DeepCopy(), metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
				cancel()
				switch {
				case level == "privileged" && err != nil:
					t.Errorf("level privileged refused the pod: %v", err)
				case level == "baseline" && err == nil:
					t.Errorf("level baseline admitted the pod")
				case level == "baseline":
					for _, want := range tt.baseline {
						if !strings.Contains(err.Error(), want) {
							t.Errorf("level baseline: %v\nwant it to name: %s", err, want)
						}
					}
				}
			}
		})
	}
}

// renderedPod returns a pod with the template that bkctl renders for one node with the given
// extra node fields.
func renderedPod(t *testing.T, fields string) *corev1.Pod {
	t.Helper()
	body := "apiVersion: bkctl/v1alpha1\nkind: Builders\nmetadata: {name: pss, namespace: buildkit}\n" +
		"builders:\n  - name: kube\n    nodes:\n      - name: n\n        " + fields + "\n"
	res, err := spec.Parse("builders.yaml", []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	objs, err := render.Render(res.File)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		if o.GetKind() != "Deployment" {
			continue
		}
		var tpl corev1.PodTemplateSpec
		raw, _, err := unstructured.NestedMap(o.Object, "spec", "template")
		if err != nil {
			t.Fatal(err)
		}
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(raw, &tpl); err != nil {
			t.Fatal(err)
		}
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "n", Labels: tpl.Labels}, Spec: tpl.Spec}
	}
	t.Fatalf("no Deployment rendered from:\n%s", body)
	return nil
}

// TestApplyNamesPodSecurityRefusal applies a privileged builder into a namespace that enforces
// the baseline level: the Deployment is created, admission refuses its pods, and the failed
// wait must say so rather than only "Replicas: 0/1".
func TestApplyNamesPodSecurityRefusal(t *testing.T) {
	lazy.Require(t)
	ns := env.Namespace(t)
	cs, err := kubernetes.NewForConfig(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	patch := `{"metadata":{"labels":{"pod-security.kubernetes.io/enforce":"baseline"}}}`
	if _, err := cs.CoreV1().Namespaces().Patch(ctx, ns, "application/merge-patch+json", []byte(patch), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	file := writeBuilders(t, ns, "      - name: amd\n        nodeSelector: {kubernetes.io/arch: amd64}\n        timeout: 5s\n")
	code, out, errs := runCluster(t, "apply", "-f", file, "--kubeconfig="+env.Kubeconfig)
	want := `violates PodSecurity "baseline:latest": privileged (container "buildkitd" must not set securityContext.privileged=true)`
	if code != 1 || !strings.Contains(lastLine(errs), want) {
		t.Errorf("apply into a baseline namespace = %d, want 1 with %s in the error\nstdout:\n%s\nstderr:\n%s", code, want, out, errs)
	}
}
