package buildrun_test

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/restmapper"

	"github.com/bkctl/bkctl/internal/buildrun"
	"github.com/bkctl/bkctl/internal/podexec"
	"github.com/bkctl/bkctl/internal/render"
	"github.com/bkctl/bkctl/internal/spec"
	"github.com/bkctl/bkctl/internal/testenv"
)

// The environment starts on the first test that asks for it (lazy.Require), so that
// go test -short runs the tests that need none without one.
var (
	lazy testenv.Lazy
	env  *testenv.Env
)

func TestMain(m *testing.M) { testenv.MainLazy(m, &lazy, &env) }

// builderYAML is a builder "kube" with an amd64 node of amdReplicas pods and an arm64 node.
func builderYAML(ns, loadbalance string, amdReplicas int) string {
	return strings.NewReplacer("NS", ns, "LB", loadbalance, "REPLICAS", itoa(amdReplicas)).Replace(`apiVersion: bkctl/v1alpha1
kind: Builders
metadata: {name: test, namespace: NS}
builders:
  - name: kube
    defaults: {loadbalance: LB}
    nodes:
      - name: amd
        platforms: [linux/amd64]
        replicas: REPLICAS
        nodeSelector: {kubernetes.io/arch: amd64}
      - name: arm
        platforms: [linux/arm64]
        nodeSelector: {kubernetes.io/arch: arm64}
`)
}

func itoa(i int) string { return string(rune('0' + i)) }

// applyBuilder applies the rendered objects of a builders file (server-side apply, field
// manager bkctl), waits for every pod to be Ready, and returns the builder with pod exec
// transports.
func applyBuilder(t *testing.T, yaml string) buildrun.Builder {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	path := filepath.Join(t.TempDir(), "builders.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	res, err := spec.Load(path, nil)
	if err != nil {
		t.Fatalf("load builders file: %v", err)
	}
	objs, err := render.Render(res.File)
	if err != nil {
		t.Fatal(err)
	}
	dyn := dynamic.NewForConfigOrDie(env.Config)
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(discovery.NewDiscoveryClientForConfigOrDie(env.Config)))
	force := true
	for _, o := range objs {
		gvk := o.GroupVersionKind()
		m, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		if err != nil {
			t.Fatal(err)
		}
		b, err := o.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := dyn.Resource(m.Resource).Namespace(o.GetNamespace()).Patch(ctx, o.GetName(), types.ApplyPatchType, b,
			metav1.PatchOptions{FieldManager: "bkctl", Force: &force}); err != nil {
			t.Fatalf("apply %s/%s: %v", o.GetKind(), o.GetName(), err)
		}
	}
	f := res.File
	b := f.Builders[0]
	out := buildrun.Builder{Name: b.Name}
	for _, n := range b.Nodes {
		tr, err := podexec.NewPodExec(env.Config, f.Metadata.Namespace, n.Name)
		if err != nil {
			t.Fatal(err)
		}
		for {
			ds, err := tr.Daemons(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(ds) == int(n.Replicas) {
				break
			}
			select {
			case <-ctx.Done():
				t.Fatalf("wait for %d Ready pods of node %s: have %v", n.Replicas, n.Name, ds)
			case <-time.After(50 * time.Millisecond):
			}
		}
		out.Nodes = append(out.Nodes, buildrun.Node{Name: n.Name, Platforms: n.Platforms, Loadbalance: n.Loadbalance, Transport: tr})
	}
	return out
}

// contextDir writes files into a fresh build context.
func contextDir(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// options returns build options with the base image as named context "base".
func options(dir string, progress io.Writer) buildrun.Options {
	o := buildrun.DefaultOptions()
	o.ContextDir = dir
	o.NamedContexts = map[string]string{"base": "oci-layout://" + env.BaseLayout + "@" + env.BaseDigest}
	if progress != nil {
		o.Progress, o.ProgressMode = progress, "plain"
	}
	return o
}

// daemonBuilt reports whether the buildkitd serving pod ns/pod has build ref in its history.
func daemonBuilt(t *testing.T, ns, pod, ref string) bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	recs, err := env.PodHistory(ctx, ns, pod, ref)
	if err != nil {
		t.Fatal(err)
	}
	return len(recs) > 0
}

func pods(t *testing.T, ns, node string) []corev1.Pod {
	t.Helper()
	l, err := kubernetes.NewForConfigOrDie(env.Config).CoreV1().Pods(ns).List(context.Background(),
		metav1.ListOptions{LabelSelector: "app=" + node})
	if err != nil {
		t.Fatal(err)
	}
	return l.Items
}
