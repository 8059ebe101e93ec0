package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// completionBuilders is the builders file the completion tests find in their working directory.
const completionBuilders = `apiVersion: bkctl/v1alpha1
kind: Builders
metadata: {name: ci, namespace: buildkit}
builders:
  - name: kube
    nodes:
      - {name: amd, platforms: [linux/amd64]}
      - {name: arm, platforms: [linux/arm64, linux/arm/v7]}
  - name: other
    namespace: team-x
    nodes: [{platforms: [linux/riscv64, linux/s390x]}]
`

// completionOtherBuilders is a second builders file, named on the command line.
const completionOtherBuilders = `apiVersion: bkctl/v1alpha1
kind: Builders
metadata: {name: edge}
builders:
  - name: edge
    namespace: edge-ns
    nodes: [{platforms: [linux/ppc64le]}]
`

// completionKubeconfig points at a port where nothing listens, so the namespace predictor falls
// back to the files and contexts at once. One context name has the colons of an EKS ARN.
const completionKubeconfig = `apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: u, user: {token: t}}]
contexts:
  - {name: dev, context: {cluster: c, user: u, namespace: dev-ns}}
  - {name: "arn:aws:eks:eu-west-1:123456789012:cluster/prod", context: {cluster: c, user: u}}
current-context: dev
`

// completionWorkdir makes a directory with builders.yaml, edge.yaml and two kubeconfigs, and
// returns it.
func completionWorkdir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	writeFile(t, dir, "builders.yaml", completionBuilders)
	writeFile(t, dir, "edge.yaml", completionOtherBuilders)
	writeFile(t, dir, "kubeconfig", completionKubeconfig)
	writeFile(t, dir, "buildkitd.toml", "debug = true\n")
	writeFile(t, mkdir(t, dir, "sub"), "outside.yaml", strings.ReplaceAll(completionOtherBuilders, "edge", "outside")+
		"    defaults: {buildkitd: {configFile: ../buildkitd.toml}}\n")
	writeFile(t, dir, "other-kubeconfig", strings.ReplaceAll(strings.ReplaceAll(completionKubeconfig, "dev", "staging"), "arn:aws:eks:eu-west-1:123456789012:cluster/prod", "lab"))
	return dir
}

// completeLine runs bkctl in completion mode on line, as a shell does, and returns its candidates
// sorted, and what it wrote to stderr.
func completeLine(t *testing.T, line string) (candidates []string, stderr string) {
	t.Helper()
	t.Setenv("COMP_LINE", line)
	t.Setenv("COMP_POINT", strconv.Itoa(len(line)))
	var out, errb bytes.Buffer
	if code := run(context.Background(), nil, streams{In: strings.NewReader(""), Out: &out, Err: &errb}); code != 0 {
		t.Errorf("COMP_LINE=%q: exit %d\n%s", line, code, errb.String())
	}
	candidates = strings.Fields(out.String())
	if len(candidates) == 0 {
		return nil, errb.String()
	}
	slices.Sort(candidates)
	return candidates, errb.String()
}

func TestCompletionCandidates(t *testing.T) {
	dir := completionWorkdir(t)
	t.Chdir(dir)
	t.Setenv("KUBECONFIG", filepath.Join(dir, "kubeconfig"))
	for _, c := range []struct {
		name, line string
		want       []string
	}{
		{"command", "bkctl sta", []string{"status"}},
		{"command alias", "bkctl bu", []string{"build", "buildx"}},
		{"subcommand", "bkctl buildx ", []string{"write"}},
		{"flag", "bkctl plan --ex", []string{"--exit-code"}},
		{"global flag after the command", "bkctl ls --req", []string{"--request-timeout"}},
		{"enum", "bkctl plan -o ", []string{"json", "text", "yaml"}},

		{"status NAME from ./builders.yaml", "bkctl status ", []string{"kube", "other"}},
		{"status NAME from -f", "bkctl status -f edge.yaml ", []string{"edge"}},
		{"ls --builder from --filename=", "bkctl ls --filename=edge.yaml --builder ", []string{"edge"}},
		{"buildx write --builder from a file argument", "bkctl buildx write edge.yaml builders.yaml --builder ", []string{"edge", "kube", "other"}},
		{"buildx write --builder from a directory", "bkctl buildx write -f . --builder ", []string{"edge", "kube", "other"}},
		{"run --builder from --builders-file", "bkctl run --builders-file edge.yaml --builder ", []string{"edge"}},
		{"run --builder, not from the Dockerfile -f", "bkctl run -f edge.yaml --builder ", []string{"kube", "other"}},
		{"build --builder prefix", "bkctl build --builder o", []string{"other"}},
		{"a file outside its directory tree is not loaded", "bkctl status -f sub/outside.yaml ", nil},
		{"--load-restrictor on the line", "bkctl buildx write --load-restrictor none sub/outside.yaml --builder ", []string{"outside"}},
		{"--load-restrictor values", "bkctl plan --load-restrictor ", []string{"LoadRestrictionsNone", "LoadRestrictionsRootOnly"}},
		{"stdin is never read", "bkctl status -f - ", nil},
		{"a missing file offers nothing", "bkctl status -f missing.yaml ", nil},

		{"platforms of the chosen builder", "bkctl run --builder kube --platform ", []string{"linux/amd64", "linux/arm/v7", "linux/arm64"}},
		{"platforms of every builder", "bkctl run --platform ", []string{"linux/amd64", "linux/arm/v7", "linux/arm64", "linux/riscv64", "linux/s390x"}},
		{"platform list continues", "bkctl run --builder kube --platform linux/arm64,", []string{"linux/arm64,linux/amd64", "linux/arm64,linux/arm/v7"}},
		{"platform list prefix", "bkctl build --builder other --platform linux/s390x,linux/r", []string{"linux/s390x,linux/riscv64"}},
		{"platform after =", "bkctl run --builder=other --platform=linux/s", []string{"linux/s390x"}},

		{"contexts from KUBECONFIG", "bkctl --context ", []string{"arn:aws:eks:eu-west-1:123456789012:cluster/prod", "dev"}},
		{"contexts after the command", "bkctl plan --context d", []string{"dev"}},
		{"contexts from --kubeconfig", "bkctl --kubeconfig other-kubeconfig status --context ", []string{"lab", "staging"}},
		{"contexts of a missing kubeconfig", "bkctl --kubeconfig nope --context ", nil},

		{"namespaces from files and contexts", "bkctl ls -n ", []string{"buildkit", "dev-ns", "team-x"}},
		{"namespaces of -f", "bkctl plan -f edge.yaml --namespace ", []string{"dev-ns", "edge-ns"}},
		{"namespaces of --kubeconfig", "bkctl --kubeconfig=other-kubeconfig plan -f edge.yaml -n ", []string{"edge-ns", "staging-ns"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, stderr := completeLine(t, c.line)
			if diff := cmp.Diff(c.want, got); diff != "" {
				t.Errorf("COMP_LINE=%q (-want +got):\n%s", c.line, diff)
			}
			if stderr != "" {
				t.Errorf("COMP_LINE=%q wrote to stderr: %q", c.line, stderr)
			}
		})
	}
}

// TestCompletionIsQuietOnBadInput: a line bkctl cannot parse, a broken builders file or
// kubeconfig, offer nothing and print nothing.
func TestCompletionIsQuietOnBadInput(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	writeFile(t, dir, "builders.yaml", "builders: [{name: [}")
	writeFile(t, dir, "kubeconfig", "contexts: {")
	t.Setenv("KUBECONFIG", filepath.Join(dir, "kubeconfig"))
	for _, line := range []string{
		"bkctl status ", "bkctl run --platform ", "bkctl --context ", "bkctl -n ",
		"bkctl --no-such-flag status ", "bkctl run --timeout=x --builder ", "bkctl status -f nodir/ ",
	} {
		got, stderr := completeLine(t, line)
		if len(got) > 0 || stderr != "" {
			t.Errorf("COMP_LINE=%q: candidates %q, stderr %q; want none", line, got, stderr)
		}
	}
}

func TestCompletedWords(t *testing.T) {
	for _, c := range []struct {
		line, point string
		want        []string
	}{
		{"bkctl", "", nil},
		{"bkctl ", "", nil},
		{"bkctl sta", "9", nil},
		{"bkctl status ", "", []string{"status"}},
		{"bkctl status -f a.yaml --builder k", "", []string{"status", "-f", "a.yaml", "--builder"}},
		{"bkctl status -f a.yaml --builder k", "12", nil}, // cursor inside "status"
		{"bkctl  -n\tx ", "", []string{"-n", "x"}},
	} {
		got := completedWords(c.line, c.point)
		if diff := cmp.Diff(c.want, got); diff != "" {
			t.Errorf("completedWords(%q, %q) (-want +got):\n%s", c.line, c.point, diff)
		}
	}
}

// TestCompletionNamespacesFromCluster: with a cluster that answers, -n offers its namespaces.
func TestCompletionNamespacesFromCluster(t *testing.T) {
	lazy.Require(t)
	ns := env.Namespace(t)
	t.Chdir(t.TempDir())
	got, stderr := completeLine(t, "bkctl --kubeconfig "+env.Kubeconfig+" ls -n ")
	for _, want := range []string{ns, "default", "kube-system"} {
		if !slices.Contains(got, want) {
			t.Errorf("namespaces %q lack %q (stderr %q)", got, want, stderr)
		}
	}
}

// TestCompletionNamespacesWhenClusterHangs: a server that accepts connections and never
// answers costs -n at most clusterTimeout, then the files' and contexts' namespaces come.
func TestCompletionNamespacesWhenClusterHangs(t *testing.T) {
	addr, accepted := hungServer(t)
	dir := completionWorkdir(t)
	t.Chdir(dir)
	kc := strings.ReplaceAll(completionKubeconfig, "127.0.0.1:1", addr)
	t.Setenv("KUBECONFIG", writeFile(t, dir, "hanging-kubeconfig", kc))
	start := time.Now()
	got, stderr := completeLine(t, "bkctl ls -n ")
	t.Logf("-n answered in %v", time.Since(start).Round(time.Millisecond))
	if diff := cmp.Diff([]string{"buildkit", "dev-ns", "team-x"}, got); diff != "" || stderr != "" {
		t.Errorf("namespaces (-want +got):\n%s\nstderr: %q", diff, stderr)
	}
	if accepted() == 0 {
		t.Error("completion did not try the cluster")
	}
}

// init lets the shell tests run this test binary as bkctl: with BKCTL_TEST_MAIN=1 it is bkctl.
func init() {
	if os.Getenv("BKCTL_TEST_MAIN") == "1" {
		main()
	}
}
