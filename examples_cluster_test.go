package main

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/bkctl/bkctl/internal/spec"
	"github.com/bkctl/bkctl/internal/testenv"
)

// The examples that the real-node tier cannot run (their nodes select another architecture than
// this machine's) apply to ready on the kwok nodes, amd64 and arm64, and delete to nothing: each
// in a namespace of its own, with the ServiceAccounts it names.
func TestExamplesApplyAndDelete(t *testing.T) {
	lazy.Require(t)
	files, err := filepath.Glob(filepath.Join("examples", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("examples: %v %v", files, err)
	}
	namespaceLine := regexp.MustCompile(`(?m)^(\s*namespace:\s*)[a-z0-9-]+`)
	ran := 0
	for _, path := range files {
		loaded, err := spec.Load(path, nil)
		if err != nil {
			t.Fatal(err)
		}
		if testenv.OtherArch(loaded.File) == "" {
			continue // the real-node tier applies it, builds on it and deletes it (test/node)
		}
		ran++
		t.Run(strings.TrimSuffix(filepath.Base(path), ".yaml"), func(t *testing.T) {
			ns := env.Namespace(t)
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			if c, err := os.ReadFile(filepath.Join("examples", "buildkitd.toml")); err == nil {
				writeFile(t, dir, "buildkitd.toml", string(c))
			}
			file := writeFile(t, dir, filepath.Base(path), string(namespaceLine.ReplaceAll(b, []byte("${1}"+ns))))
			loaded, err := spec.Load(file, nil)
			if err != nil {
				t.Fatal(err)
			}
			c := kubernetes.NewForConfigOrDie(env.Config)
			for _, bld := range loaded.File.Builders {
				for _, n := range bld.Nodes {
					if n.ServiceAccountName == "" {
						continue
					}
					sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: n.ServiceAccountName}}
					if _, err := c.CoreV1().ServiceAccounts(ns).Create(context.Background(), sa, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
						t.Fatal(err)
					}
				}
			}
			applyFile(t, file)
			code, out, errs := runCluster(t, "delete", "-f", file, "--kubeconfig="+env.Kubeconfig, "--yes", "--wait")
			if code != 0 {
				t.Fatalf("delete = %d\nstdout:\n%s\nstderr:\n%s", code, out, errs)
			}
			deps, err := c.AppsV1().Deployments(ns).List(context.Background(), metav1.ListOptions{})
			if err != nil || len(deps.Items) != 0 {
				t.Errorf("Deployments left in %s after delete: %d (err %v)", ns, len(deps.Items), err)
			}
		})
	}
	if ran == 0 {
		t.Fatal("no example selects another architecture than this machine's: the real-node tier runs them all, and this test has nothing to do (remove it)")
	}
}
