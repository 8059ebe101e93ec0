package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// runCluster runs bkctl in-process against the cluster and returns its exit code and streams.
func runCluster(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out, errw bytes.Buffer
	code := run(ctx, args, streams{In: strings.NewReader(""), Out: &out, Err: &errw})
	return code, out.String(), errw.String()
}

func writeBuilders(t *testing.T, ns, nodes string) string {
	t.Helper()
	body := "apiVersion: bkctl/v1alpha1\nkind: Builders\nmetadata:\n  name: cli\n  namespace: " + ns +
		"\nbuilders:\n  - name: kube\n    nodes:\n" + nodes
	path := filepath.Join(t.TempDir(), "builders.yaml")
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

const cliNode = "      - name: amd\n        nodeSelector: {kubernetes.io/arch: amd64}\n        replicas: 1\n        timeout: 30s\n"

func TestPlanApplyExitCodes(t *testing.T) {
	lazy.Require(t)
	ns := env.Namespace(t)
	file := writeBuilders(t, ns, cliNode)
	kc := "--kubeconfig=" + env.Kubeconfig

	code, out, errs := runCluster(t, "plan", "-f", file, kc, "--exit-code")
	if code != 2 || !strings.Contains(out, "+ create    Deployment/"+ns+"/amd") {
		t.Fatalf("plan --exit-code before apply = %d, want 2\nstdout:\n%s\nstderr:\n%s", code, out, errs)
	}
	if code, _, _ := runCluster(t, "plan", "-f", file, kc); code != 0 {
		t.Errorf("plan without --exit-code = %d, want 0", code)
	}
	code, out, errs = runCluster(t, "apply", "-f", file, kc)
	if code != 0 || !strings.Contains(errs, "Deployment/"+ns+"/amd: ready after") {
		t.Fatalf("apply = %d\nstdout:\n%s\nstderr:\n%s", code, out, errs)
	}
	code, out, errs = runCluster(t, "plan", "-f", file, kc, "--exit-code")
	if code != 0 || !strings.Contains(out, "in sync") {
		t.Errorf("plan --exit-code after apply = %d, want 0\nstdout:\n%s\nstderr:\n%s", code, out, errs)
	}
	code, out, _ = runCluster(t, "apply", "-f", file, kc)
	if code != 0 || !strings.Contains(out, "in sync") {
		t.Errorf("second apply = %d, want 0 and in sync\n%s", code, out)
	}
	code, out, _ = runCluster(t, "plan", "-f", file, kc, "-o", "json", "--exit-code")
	if code != 0 || !strings.Contains(out, `"pending": false`) {
		t.Errorf("plan -o json = %d\n%s", code, out)
	}
	code, out, errs = runCluster(t, "delete", "-f", file, kc)
	if code != 0 || !strings.Contains(errs, "Deployment/"+ns+"/amd: pruned") {
		t.Errorf("delete = %d\nstdout:\n%s\nstderr:\n%s", code, out, errs)
	}
}

func TestApplyErrors(t *testing.T) {
	lazy.Require(t)
	ns := env.Namespace(t)
	kc := "--kubeconfig=" + env.Kubeconfig
	tests := map[string]struct {
		args []string
		want string
	}{
		"invalid file is never sent": {
			[]string{"apply", "-f", writeBuilders(t, ns, "      - name: amd\n        replicas: -1\n"), kc},
			"replicas",
		},
		"wrong context": {
			[]string{"plan", "-f", writeBuilders(t, ns, cliNode), kc, "--context", "nope"},
			`context "nope" not found`,
		},
		"unreachable cluster": {
			[]string{"plan", "-f", writeBuilders(t, ns, cliNode), "--kubeconfig", unreachableKubeconfig(t)},
			"cannot reach the cluster at https://127.0.0.1:1",
		},
		"wait timeout names the object and its status": {
			[]string{"apply", "-f", writeBuilders(t, ns, "      - name: nowhere\n        nodeSelector: {kubernetes.io/arch: s390x}\n        timeout: 2s\n"), kc},
			"Deployment/" + ns + "/nowhere: not ready after 2s (InProgress)",
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			code, out, errs := runCluster(t, tt.args...)
			if code != 1 || !strings.Contains(errs, tt.want) {
				t.Errorf("exit %d, want 1 with %q on stderr\nstdout:\n%s\nstderr:\n%s", code, tt.want, out, errs)
			}
		})
	}
}

func unreachableKubeconfig(t *testing.T) string {
	path := filepath.Join(t.TempDir(), "kubeconfig")
	kc := `apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: u, user: {token: x}}]
contexts: [{name: c, context: {cluster: c, user: u}}]
current-context: c
`
	if err := os.WriteFile(path, []byte(kc), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestApplyBuildxWritesInstances(t *testing.T) {
	lazy.Require(t)
	ns := env.Namespace(t)
	file := writeBuilders(t, ns, cliNode)
	dir := t.TempDir()
	code, _, errs := runCluster(t, "apply", "-f", file, "--kubeconfig="+env.Kubeconfig, "--buildx", "--buildx-config", dir)
	if code != 0 || !strings.Contains(errs, "buildx: kube: created "+filepath.Join(dir, "instances", "kube")) {
		t.Fatalf("apply --buildx = %d\nstderr:\n%s", code, errs)
	}
	data, err := os.ReadFile(filepath.Join(dir, "instances", "kube"))
	if err != nil {
		t.Fatal(err)
	}
	var inst struct {
		Driver string
		Nodes  []struct {
			Name       string
			Endpoint   string
			DriverOpts map[string]string
		}
	}
	if err := json.Unmarshal(data, &inst); err != nil {
		t.Fatal(err)
	}
	if inst.Driver != "kubernetes" || len(inst.Nodes) != 1 || inst.Nodes[0].Name != "amd" || inst.Nodes[0].DriverOpts["namespace"] != ns ||
		!strings.Contains(inst.Nodes[0].Endpoint, "kubeconfig="+url.QueryEscape(env.Kubeconfig)) {
		t.Errorf("instance = %s", data)
	}
	// A failed apply writes no instance.
	bad := writeBuilders(t, ns, "      - name: amd\n        replicas: x\n")
	dir2 := t.TempDir()
	if code, _, _ := runCluster(t, "apply", "-f", bad, "--kubeconfig="+env.Kubeconfig, "--buildx", "--buildx-config", dir2); code != 1 {
		t.Errorf("apply --buildx of an invalid file = %d, want 1", code)
	}
	if _, err := os.Stat(filepath.Join(dir2, "instances", "kube")); !os.IsNotExist(err) {
		t.Errorf("instance written after a failed apply: %v", err)
	}
}

// TestMissingRBACNamesVerbAndResource runs plan as a service account that may do nothing.
func TestMissingRBACNamesVerbAndResource(t *testing.T) {
	lazy.Require(t)
	ns := env.Namespace(t)
	cs, err := kubernetes.NewForConfig(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := cs.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "norights"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	tok, err := cs.CoreV1().ServiceAccounts(ns).CreateToken(ctx, "norights", &authenticationv1.TokenRequest{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	kc := filepath.Join(t.TempDir(), "kubeconfig")
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["c"] = &clientcmdapi.Cluster{Server: env.Config.Host, CertificateAuthorityData: env.Config.CAData, CertificateAuthority: env.Config.CAFile}
	cfg.AuthInfos["u"] = &clientcmdapi.AuthInfo{Token: tok.Status.Token}
	cfg.Contexts["c"] = &clientcmdapi.Context{Cluster: "c", AuthInfo: "u"}
	cfg.CurrentContext = "c"
	if err := clientcmd.WriteToFile(*cfg, kc); err != nil {
		t.Fatal(err)
	}
	code, out, errs := runCluster(t, "plan", "-f", writeBuilders(t, ns, cliNode), "--kubeconfig", kc)
	user := `User "system:serviceaccount:` + ns + `:norights" cannot `
	if code != 1 || !strings.Contains(errs, user) || !strings.Contains(errs, `resource "`) || !strings.Contains(errs, "hint: bkctl needs") {
		t.Errorf("plan without rights = %d, want 1 naming the user, verb and resource\nstdout:\n%s\nstderr:\n%s", code, out, errs)
	}
	if testing.Verbose() {
		t.Log(errs)
	}
}
