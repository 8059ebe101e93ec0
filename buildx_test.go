package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// TestBuildxBuildsOnBkctlPods is the interop promise of `bkctl buildx write`: the real docker
// buildx, given the instance bkctl writes, builds on the pods bkctl applied and creates nothing.
func TestBuildxBuildsOnBkctlPods(t *testing.T) {
	lazy.Require(t)
	ns := env.Namespace(t)
	file := writeBuilders(t, ns, twoNodes)
	applyFile(t, file)
	before := workloads(t, ns)

	bx := t.TempDir()
	if code, out, errs := runCLI(t, "", "buildx", "write", "-f", file, "--buildx-config", bx, "--kubeconfig", env.Kubeconfig); code != 0 {
		t.Fatalf("buildx write = %d\nstdout:\n%s\nstderr:\n%s", code, out, errs)
	}
	buildx := func(args ...string) (string, error) { return tryBuildx(t, bx, args...) }

	out, err := buildx("inspect", "kube")
	t.Logf("buildx inspect kube:\n%s", out)
	if err != nil {
		t.Fatalf("buildx inspect kube: %v\n%s", err, out)
	}
	for _, want := range []string{"Driver:        kubernetes", "Name:                  amd", "Name:                  arm", "Platforms:             linux/amd64*", "Platforms:             linux/arm64*", "BuildKit version:      v0.34.2"} {
		if !strings.Contains(out, want) {
			t.Errorf("buildx inspect kube lacks %q", want)
		}
	}
	// buildx shows a node per running pod of a kubernetes node: bkctl's 2 + 1 replicas
	if n := strings.Count(out, "Status:                running"); n != 3 || strings.Count(out, "Name:                  amd\n") != 2 {
		t.Errorf("buildx inspect kube: %d pods running, want 2 of amd and 1 of arm", n)
	}
	out, _ = buildx("ls") // the default builder needs a docker daemon, which is not here
	t.Logf("buildx ls:\n%s", out)
	for _, node := range []string{"amd", "arm"} {
		if !slices.ContainsFunc(strings.Split(out, "\n"), func(l string) bool {
			f := strings.Fields(l)
			return len(f) >= 5 && f[0] == `\_` && f[1] == node && strings.Contains(l, "deployment="+node) && slices.Contains(f, "running") && slices.Contains(f, "v0.34.2")
		}) {
			t.Errorf("buildx ls has no running row for node %s", node)
		}
	}

	dir := t.TempDir()
	writeFile(t, dir, "Dockerfile", "FROM base\nCOPY hello /hello\n")
	writeFile(t, dir, "hello", "hello from buildx in "+ns+"\n")
	meta := filepath.Join(t.TempDir(), "metadata.json")
	out, err = buildx("--builder", "kube", "build", "--progress", "plain", "--output", "type=cacheonly",
		"--build-context", "base=oci-layout://"+env.BaseLayout+"@"+env.BaseDigest, "--metadata-file", meta, dir)
	if err != nil {
		t.Fatalf("buildx build: %v\n%s", err, out)
	}
	if after := workloads(t, ns); !slices.Equal(before, after) {
		t.Errorf("buildx changed the workloads:\nbefore %v\nafter  %v", before, after)
	}

	ref := buildRef(t, meta)
	var built []string
	for _, pod := range podNames(t, ns, "amd") {
		if daemonHas(t, ns, pod, ref) {
			built = append(built, pod)
		}
	}
	if len(built) != 1 {
		t.Errorf("pods of node amd whose daemon has build %s: %v, want one", ref, built)
	}
}

// workloads lists the Deployments, StatefulSets and ConfigMaps of ns by kind, name and UID, so
// that a deleted and recreated object counts as a change.
func workloads(t *testing.T, ns string) []string {
	t.Helper()
	ctx := context.Background()
	c := kubernetes.NewForConfigOrDie(env.Config)
	var out []string
	deps, err := c.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range deps.Items {
		out = append(out, fmt.Sprintf("Deployment/%s/%s@%d", d.Name, d.UID, d.Generation))
	}
	sets, err := c.AppsV1().StatefulSets(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range sets.Items {
		out = append(out, fmt.Sprintf("StatefulSet/%s/%s@%d", s.Name, s.UID, s.Generation))
	}
	cms, err := c.CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, cm := range cms.Items {
		out = append(out, fmt.Sprintf("ConfigMap/%s/%s", cm.Name, cm.UID))
	}
	slices.Sort(out)
	if len(deps.Items) == 0 {
		t.Fatalf("no Deployments in %s", ns)
	}
	return out
}

func podNames(t *testing.T, ns, node string) []string {
	t.Helper()
	l, err := kubernetes.NewForConfigOrDie(env.Config).CoreV1().Pods(ns).List(context.Background(),
		metav1.ListOptions{LabelSelector: "app=" + node})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, p := range l.Items {
		out = append(out, p.Name)
	}
	return out
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
