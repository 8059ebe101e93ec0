package node

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bkctl/bkctl/internal/spec"
	"github.com/bkctl/bkctl/internal/testenv"
)

// TestExamples applies each example that can run here to a fresh namespace, waits for its pods
// to be Ready by their own readiness probes, builds examples/hello through exec into a pod and
// pushes to the registry, reads ls and status from the real daemons, and deletes it.
func TestExamples(t *testing.T) {
	files, err := filepath.Glob(repoFile("examples", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	ran := 0
	for _, path := range files {
		name := filepath.Base(path)
		loaded, err := spec.Load(path, nil)
		if err != nil {
			t.Fatal(err)
		}
		if why := testenv.OtherArch(loaded.File); why != "" {
			// the kwok tier applies and deletes it (TestExamplesApplyAndDelete)
			t.Logf("%s cannot run on this machine: %s", name, why)
			continue
		}
		ran++
		t.Run(strings.TrimSuffix(name, ".yaml"), func(t *testing.T) {
			ns := env.Namespace(t)
			file := exampleIn(t, path, ns)
			loaded, err := spec.Load(file, nil)
			if err != nil {
				t.Fatal(err)
			}
			prepareNamespace(t, ns, loaded.File)
			lifecycle(t, ns, file, loaded.File)
		})
	}
	if ran == 0 {
		t.Fatal("no example can run on this machine")
	}
}

var namespaceLine = regexp.MustCompile(`(?m)^(\s*namespace:\s*)[a-z0-9-]+`)

// exampleIn copies an example into a temporary dir (with the files it names), every namespace
// replaced by ns.
func exampleIn(t *testing.T, path, ns string) string {
	t.Helper()
	dir := t.TempDir()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b = namespaceLine.ReplaceAll(b, []byte("${1}"+ns))
	for _, f := range []string{"buildkitd.toml"} {
		if c, err := os.ReadFile(filepath.Join(filepath.Dir(path), f)); err == nil {
			if err := os.WriteFile(filepath.Join(dir, f), c, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	out := filepath.Join(dir, filepath.Base(path))
	if err := os.WriteFile(out, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return out
}

// prepareNamespace creates what an example expects to exist already: the ServiceAccounts its
// nodes name.
func prepareNamespace(t *testing.T, ns string, f *spec.File) {
	t.Helper()
	c := clientset(t)
	for _, b := range f.Builders {
		for _, n := range b.Nodes {
			if n.ServiceAccountName == "" {
				continue
			}
			sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: n.ServiceAccountName}}
			_, err := c.CoreV1().ServiceAccounts(ns).Create(context.Background(), sa, metav1.CreateOptions{})
			if err != nil && !apierrors.IsAlreadyExists(err) {
				t.Fatal(err)
			}
		}
	}
}

// lifecycle is apply → Ready pods on the real node → build and push through exec → ls and
// status from the daemons → delete.
func lifecycle(t *testing.T, ns, file string, f *spec.File) {
	t.Cleanup(func() {
		if t.Failed() {
			out, _ := kubectl(t, "-n", ns, "get", "pods,events", "-o", "wide")
			logs, _ := kubectl(t, "-n", ns, "logs", "--all-containers", "--prefix", "--tail=20", "-l", "app.kubernetes.io/managed-by=bkctl")
			t.Logf("namespace %s:\n%s\nlogs:\n%s", ns, out, logs)
		}
	})
	r := mustBkctl(t, 4*time.Minute, "apply", "-f", file)
	t.Logf("apply to ready took %.2fs", r.took.Seconds())
	b := f.Builders[0]
	for _, n := range b.Nodes {
		pods := readyPods(t, ns, n.Name)
		if len(pods) != int(n.Replicas) {
			t.Fatalf("%s: %d Ready pods on the real node, want %d", n.Name, len(pods), n.Replicas)
		}
	}

	image := fmt.Sprintf("%s/%s/hello:1", env.NodeRegistry, ns)
	r = mustBkctl(t, 4*time.Minute, "run", "--builders-file", file, "--builder", b.Name,
		"--progress", "plain",
		"--build-context", "base=oci-layout://"+env.BaseLayout+"@"+env.BaseDigest,
		"-o", "type=image,name="+image+",push=true,registry.insecure=true",
		repoFile("examples", "hello"))
	t.Logf("build through pod exec took %.2fs", r.took.Seconds())
	if !strings.Contains(r.stderr, "built on x86_64") {
		t.Errorf("the build's RUN step did not run in the pod's buildkitd; progress:\n%s", r.stderr)
	}
	checkManifest(t, ns+"/hello", "1")

	r = mustBkctl(t, time.Minute, "ls", "-f", file)
	for _, n := range b.Nodes {
		if !strings.Contains(r.stdout, n.Name) {
			t.Errorf("ls does not list node %s:\n%s", n.Name, r.stdout)
		}
	}
	r = mustBkctl(t, time.Minute, "status", "-f", file, "-o", "json")
	checkStatus(t, r.stdout, b)

	if cfg := filepath.Join(filepath.Dir(file), "buildkitd.toml"); usesConfigFile(b) {
		rollOnConfigChange(t, ns, file, cfg, b)
	}

	mustBkctl(t, 2*time.Minute, "delete", "-f", file, "--prune-pvcs", "--yes")
	for _, n := range b.Nodes {
		for _, kind := range []string{"deployment", "statefulset"} {
			out, err := kubectl(t, "-n", ns, "get", kind, n.Name, "--ignore-not-found", "-o", "name")
			if err != nil || strings.TrimSpace(out) != "" {
				t.Errorf("after delete: %s %s still there (%v): %s", kind, n.Name, err, out)
			}
		}
	}
}

func usesConfigFile(b spec.Builder) bool {
	for _, n := range b.Nodes {
		if n.Buildkitd.ConfigFile != "" {
			return true
		}
	}
	return false
}

// rollOnConfigChange changes the builder's buildkitd.toml and applies: plan says the nodes roll
// their pods, apply waits until new pods are Ready, and the buildkitd of a new pod reads the
// changed file.
func rollOnConfigChange(t *testing.T, ns, file, cfg string, b spec.Builder) {
	t.Helper()
	before := map[string]bool{}
	for _, n := range b.Nodes {
		for _, p := range readyPods(t, ns, n.Name) {
			before[p] = true
		}
	}
	marker := "# changed by " + t.Name()
	f, err := os.OpenFile(cfg, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, err = fmt.Fprintf(f, "\n%s\n", marker)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	r := mustBkctl(t, time.Minute, "plan", "-f", file)
	if !strings.Contains(r.stdout, "rolls its pods") {
		t.Errorf("plan of a changed buildkitd.toml does not say the pods roll:\n%s", r.stdout)
	}
	r = mustBkctl(t, 4*time.Minute, "apply", "-f", file)
	t.Logf("apply of a config change to ready took %.2fs", r.took.Seconds())
	for _, n := range b.Nodes {
		pods := readyPods(t, ns, n.Name)
		if len(pods) != int(n.Replicas) {
			t.Fatalf("%s after the config change: %d Ready pods, want %d", n.Name, len(pods), n.Replicas)
		}
		for _, p := range pods {
			if before[p] {
				t.Errorf("%s: pod %s was Ready before the config change and still is: the pods did not roll", n.Name, p)
				continue
			}
			out, err := kubectl(t, "-n", ns, "exec", p, "-c", "buildkitd", "--", "cat", "/etc/buildkit/buildkitd.toml")
			if err != nil || !strings.Contains(out, marker) {
				t.Errorf("%s: the new pod %s does not read the changed config (%v):\n%s", n.Name, p, err, out)
			}
		}
	}
}

// readyPods returns the names of the node's pods that run on the real node and are Ready.
func readyPods(t testing.TB, ns, app string) []string {
	t.Helper()
	pods, err := clientset(t).CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: "app=" + app})
	if err != nil {
		t.Fatal(err)
	}
	var ready []string
	for _, p := range pods.Items {
		if p.Spec.NodeName != testenv.NodeReal || p.DeletionTimestamp != nil {
			continue
		}
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
				ready = append(ready, p.Name)
			}
		}
	}
	return ready
}

// checkManifest asks the registry for the pushed image.
func checkManifest(t testing.TB, repo, tag string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodHead, fmt.Sprintf("http://%s/v2/%s/manifests/%s", env.Registry, repo, tag), nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("registry has no %s:%s: %s", repo, tag, resp.Status)
	}
}

// checkStatus checks that status read every pod's daemon: BuildKit's version from inside the
// pod, the real node as host, and the build in some pod's history.
func checkStatus(t *testing.T, out string, b spec.Builder) {
	t.Helper()
	var st struct {
		Builders []struct {
			Nodes []struct {
				Name string `json:"name"`
				Pods []struct {
					Name   string `json:"name"`
					Host   string `json:"host"`
					Error  string `json:"error"`
					Daemon *struct {
						BuildkitVersion string `json:"buildkitVersion"`
						History         *struct {
							Builds int `json:"builds"`
						} `json:"history"`
					} `json:"daemon"`
				} `json:"pods"`
			} `json:"nodes"`
		} `json:"items"`
	}
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("status -o json: %v\n%s", err, out)
	}
	builds, pods := 0, 0
	for _, bs := range st.Builders {
		for _, n := range bs.Nodes {
			for _, p := range n.Pods {
				pods++
				if p.Host != testenv.NodeReal || p.Daemon == nil || p.Daemon.BuildkitVersion != "v0.34.2" {
					t.Errorf("status of pod %s: host %q, daemon %+v, error %q; want host %s and BuildKit v0.34.2",
						p.Name, p.Host, p.Daemon, p.Error, testenv.NodeReal)
					continue
				}
				if p.Daemon.History != nil {
					builds += p.Daemon.History.Builds
				}
			}
		}
	}
	want := 0
	for _, n := range b.Nodes {
		want += int(n.Replicas)
	}
	if pods != want {
		t.Errorf("status reports %d pods, want %d:\n%s", pods, want, out)
	}
	if builds < 1 {
		t.Errorf("status reports no build in any daemon's history:\n%s", out)
	}
}
