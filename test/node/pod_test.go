package node

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

const patchedBuilders = `apiVersion: bkctl/v1alpha1
kind: Builders
metadata: {name: patched, namespace: %[1]s}
builders:
  - name: patched
    nodes:
      - name: patched0
        env:
          - name: FROM_SECRET
            valueFrom: {secretKeyRef: {name: builder-secret, key: token}}
        podTemplate:
          metadata:
            labels: {patched: "yes"}
          spec:
            terminationGracePeriodSeconds: 3
            containers:
              - name: buildkitd
                env: [{name: FROM_PATCH, value: patched-value}]
`

// TestPodTemplateAndSecretEnv checks, inside the running buildkitd container, that a podTemplate
// patch and an env var from a Secret reach it: the kubelet resolves the Secret, not bkctl.
func TestPodTemplateAndSecretEnv(t *testing.T) {
	ns := env.Namespace(t)
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "builder-secret"},
		StringData: map[string]string{"token": "s3cr3t-from-the-kubelet"},
	}
	if _, err := clientset(t).CoreV1().Secrets(ns).Create(context.Background(), secret, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "builders.yaml")
	if err := os.WriteFile(file, fmt.Appendf(nil, patchedBuilders, ns), 0o644); err != nil {
		t.Fatal(err)
	}
	r := mustBkctl(t, 3*time.Minute, "apply", "-f", file)
	if strings.Contains(r.stdout+r.stderr, "s3cr3t") {
		t.Errorf("bkctl printed the Secret's value:\n%s\n%s", r.stdout, r.stderr)
	}
	pods := readyPods(t, ns, "patched0")
	if len(pods) != 1 {
		t.Fatalf("%d Ready pods, want 1", len(pods))
	}
	out, err := kubectl(t, "-n", ns, "exec", pods[0], "-c", "buildkitd", "--", "env")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"FROM_SECRET=s3cr3t-from-the-kubelet", "FROM_PATCH=patched-value", "BUILDKIT_SETUP_CGROUPV2_ROOT=1"} {
		if !strings.Contains(out, want+"\n") {
			t.Errorf("env inside the container lacks %s:\n%s", want, out)
		}
	}
	out, err = kubectl(t, "-n", ns, "get", "pod", pods[0], "-o", "jsonpath={.metadata.labels.patched} {.spec.terminationGracePeriodSeconds}")
	if err != nil {
		t.Fatal(err)
	}
	if out != "yes 3" {
		t.Errorf("patched pod: label and grace period %q, want %q", out, "yes 3")
	}
	// the daemon answers inside the container, as the readiness probe asks it
	out, err = kubectl(t, "-n", ns, "exec", pods[0], "-c", "buildkitd", "--", "buildctl", "debug", "workers")
	if err != nil || !strings.Contains(out, "linux/amd64") {
		t.Errorf("buildctl debug workers in the pod: %v\n%s", err, out)
	}
	mustBkctl(t, 2*time.Minute, "delete", "-f", file, "--yes")
}
