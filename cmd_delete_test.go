package main

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// mutations counts the requests of package main's commands that could change the cluster:
// every method but GET, dry-runs aside. Tests using it must not run in parallel.
type mutations struct {
	mu  sync.Mutex
	log []string
}

func countMutations(t *testing.T) *mutations {
	m := &mutations{}
	testWrapTransport = func(rt http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(r *http.Request) (*http.Response, error) {
			if r.Method != http.MethodGet && !strings.Contains(r.URL.RawQuery, "dryRun=") {
				m.mu.Lock()
				m.log = append(m.log, r.Method+" "+r.URL.Path)
				m.mu.Unlock()
			}
			return rt.RoundTrip(r)
		})
	}
	t.Cleanup(func() { testWrapTransport = nil })
	return m
}

func (m *mutations) take() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := m.log
	m.log = nil
	return out
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestDeleteDryRunConfirmAndWait deletes a file that created its builder's namespace: --dry-run
// lists what would go and sends no write, a delete without --yes and without a terminal is
// refused with nothing deleted, and --yes --wait returns once the objects and their pods are gone.
func TestDeleteDryRunConfirmAndWait(t *testing.T) {
	lazy.Require(t)
	ns := env.Namespace(t)
	own := ns + "-own"
	kc := "--kubeconfig=" + env.Kubeconfig
	file := writeFile(t, t.TempDir(), "builders.yaml", "apiVersion: bkctl/v1alpha1\nkind: Builders\nmetadata:\n  name: cli\n  namespace: "+ns+`
builders:
  - name: kube
    namespace: `+own+`
    createNamespace: true
    nodes:
      - name: amd
        replicas: 2
        nodeSelector: {kubernetes.io/arch: amd64}
`)
	c := kubernetes.NewForConfigOrDie(env.Config)
	t.Cleanup(func() { _ = c.CoreV1().Namespaces().Delete(context.Background(), own, metav1.DeleteOptions{}) })
	if code, out, errs := runCluster(t, "apply", "-f", file, kc); code != 0 {
		t.Fatalf("apply = %d\nstdout:\n%s\nstderr:\n%s", code, out, errs)
	}
	writes := countMutations(t)

	code, out, errs := runCluster(t, "delete", "-f", file, kc, "--dry-run")
	for _, want := range []string{"- prune     Deployment/" + own + "/amd", "- prune     Namespace/" + own, "- prune     ConfigMap/" + ns + "/bkctl-applyset-cli (inventory)"} {
		if !strings.Contains(out, want) {
			t.Errorf("delete --dry-run lacks %q\nstdout:\n%s\nstderr:\n%s", want, out, errs)
		}
	}
	if code != 0 {
		t.Errorf("delete --dry-run = %d, want 0", code)
	}
	if w := writes.take(); len(w) != 0 {
		t.Errorf("delete --dry-run sent writes: %v", w)
	}

	code, _, errs = runCluster(t, "delete", "-f", file, kc)
	if code != 1 || !strings.Contains(errs, "delete would remove namespace "+own+", with everything in it, and stdin is not a terminal") || !strings.Contains(errs, "pass --yes") {
		t.Errorf("delete without --yes and no terminal = %d, want 1 and the --yes hint\nstderr:\n%s", code, errs)
	}
	if w := writes.take(); len(w) != 0 {
		t.Errorf("a refused delete sent writes: %v", w)
	}

	code, out, errs = runCluster(t, "delete", "-f", file, kc, "--yes", "--wait")
	if code != 0 || !strings.Contains(out, "Delete complete: 2 objects and the inventory ConfigMap/"+ns+"/bkctl-applyset-cli deleted and gone.") {
		t.Fatalf("delete --yes --wait = %d\nstdout:\n%s\nstderr:\n%s", code, out, errs)
	}
	for _, want := range []string{"Deployment/" + own + "/amd: gone after", "Namespace/" + own + ": gone after"} {
		if !strings.Contains(errs, want) {
			t.Errorf("progress lacks %q\nstderr:\n%s", want, errs)
		}
	}
	// gone when the command returned: no polling here
	ctx := context.Background()
	if _, err := c.AppsV1().Deployments(own).Get(ctx, "amd", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("Deployment after delete --wait: %v, want NotFound", err)
	}
	if _, err := c.CoreV1().Namespaces().Get(ctx, own, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("namespace after delete --wait: %v, want NotFound", err)
	}
	if pods, err := c.CoreV1().Pods(own).List(ctx, metav1.ListOptions{}); err != nil || len(pods.Items) != 0 {
		t.Errorf("pods after delete --wait: %v, %d left", err, len(pods.Items))
	}
}
