package main

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
)

// TestEnvFromSecretIsNeverShown applies a builder whose env takes a value from a Secret: the
// Deployment references the Secret's key, and the value appears in no output of render, plan
// (text, diff and JSON), apply (text and JSON), status or ls. A literal that someone wrote into
// the live Deployment with kubectl is user configuration, and the plan shows it as it is.
func TestEnvFromSecretIsNeverShown(t *testing.T) {
	lazy.Require(t)
	ns := env.Namespace(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cs := kubernetes.NewForConfigOrDie(env.Config)
	value := randomSecret(t, "env-from-secret-")
	if _, err := cs.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "buildkit-creds"},
		Data:       map[string][]byte{"token": []byte(value), "other": []byte(value + "-other")},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	envOf := func(plain, extra string) string {
		return cliNode + "        env:\n" +
			"          - {name: REGISTRY_TOKEN, valueFrom: {secretKeyRef: {name: buildkit-creds, key: token}}}\n" +
			"          - {name: PLAIN, value: \"" + plain + "\"}\n" + extra
	}
	first := writeBuilders(t, ns, envOf("1", ""))
	// the second file changes the env: its plan diff shows the env entries around the reference
	second := writeBuilders(t, ns, envOf("2", "          - {name: OTHER_TOKEN, valueFrom: {secretKeyRef: {name: buildkit-creds, key: other, optional: true}}}\n"))
	kc := "--kubeconfig=" + env.Kubeconfig

	steps := []struct {
		name string
		args []string
		code int
		want string // on stdout
	}{
		{"render", []string{"render", "-f", first}, 0, "secretKeyRef"},
		{"plan", []string{"plan", "-f", first, kc}, 0, "+ create    Deployment/" + ns + "/amd"},
		{"plan -o json", []string{"plan", "-f", first, kc, "-o", "json"}, 0, `"pending": true`},
		{"apply -o json", []string{"apply", "-f", first, kc, "-o", "json"}, 0, "Deployment"},
		{"plan of a changed env", []string{"plan", "-f", second, kc}, 0, "+        - name: OTHER_TOKEN"},
		{"plan -o json of a changed env", []string{"plan", "-f", second, kc, "-o", "json"}, 0, "OTHER_TOKEN"},
		{"apply of a changed env", []string{"apply", "-f", second, kc}, 0, "update"},
		{"status", []string{"status", "-f", second, kc}, 0, "kube"},
		{"status -o json", []string{"status", "-f", second, kc, "-o", "json"}, 0, "kube"},
		{"ls", []string{"ls", "-f", second, kc}, 0, "kube"},
		{"ls -o json", []string{"ls", "-f", second, kc, "-o", "json"}, 0, "kube"},
	}
	for _, s := range steps {
		code, out, errs := runCluster(t, s.args...)
		if code != s.code || !strings.Contains(out, s.want) {
			t.Fatalf("bkctl %s = %d, want %d with %q on stdout\nstdout:\n%s\nstderr:\n%s", s.name, code, s.code, s.want, out, errs)
		}
		assertNoLeak(t, "stdout of bkctl "+s.name, []byte(out), value)
		assertNoLeak(t, "stderr of bkctl "+s.name, []byte(errs), value)
	}

	d, err := cs.AppsV1().Deployments(ns).Get(ctx, "amd", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	refs := map[string]string{}
	for _, e := range d.Spec.Template.Spec.Containers[0].Env {
		if e.Value == value {
			t.Errorf("the Deployment has the Secret's value in env %s", e.Name)
		}
		if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
			r := e.ValueFrom.SecretKeyRef
			refs[e.Name] = r.Name + "/" + r.Key
		}
	}
	if refs["REGISTRY_TOKEN"] != "buildkit-creds/token" || refs["OTHER_TOKEN"] != "buildkit-creds/other" {
		t.Errorf("Deployment env references %v, want REGISTRY_TOKEN and OTHER_TOKEN from Secret buildkit-creds", refs)
	}

	// kubectl edit writes a token-looking literal into the live object: it is not a Secret's
	// data, and the plan shows what it would revert
	literal := randomSecret(t, "edited-literal-")
	patch := `{"spec":{"template":{"spec":{"containers":[{"name":"buildkitd","env":[{"name":"PLAIN","value":"` + literal + `"}]}]}}}}`
	if _, err := cs.AppsV1().Deployments(ns).Patch(ctx, "amd", types.StrategicMergePatchType, []byte(patch),
		metav1.PatchOptions{FieldManager: "kubectl-edit"}); err != nil {
		t.Fatal(err)
	}
	code, out, errs := runCluster(t, "plan", "-f", second, kc)
	if code != 0 || !strings.Contains(out, "-          value: "+literal) || !strings.Contains(out, `+          value: "2"`) {
		t.Fatalf("plan after kubectl edit = %d, want a diff from the edited literal back to \"2\"\nstdout:\n%s\nstderr:\n%s", code, out, errs)
	}
	assertNoLeak(t, "stdout of bkctl plan after kubectl edit", []byte(out), value)
}
