package main

import (
	"context"
	"encoding/json"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/bkctl/bkctl/internal/inspect"
)

// twoNodes is a builder kube with two amd64 pods and one arm64 pod.
const twoNodes = `      - name: amd
        platforms: [linux/amd64]
        replicas: 2
        nodeSelector: {kubernetes.io/arch: amd64}
        timeout: 60s
      - name: arm
        platforms: [linux/arm64]
        nodeSelector: {kubernetes.io/arch: arm64}
        timeout: 60s
`

// applyFile applies a builders file through the CLI and fails the test unless it is ready.
func applyFile(t *testing.T, file string) {
	t.Helper()
	if code, out, errs := runCluster(t, "apply", "-f", file, "--kubeconfig="+env.Kubeconfig); code != 0 {
		t.Fatalf("apply = %d\nstdout:\n%s\nstderr:\n%s", code, out, errs)
	}
}

func decodeBuilders(t *testing.T, out string) []inspect.Builder {
	t.Helper()
	var got struct {
		APIVersion, Kind string
		Items            []inspect.Builder
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("decode %v:\n%s", err, out)
	}
	if got.APIVersion != "bkctl/v1alpha1" || (got.Kind != "BuilderList" && got.Kind != "BuilderStatus") {
		t.Fatalf("apiVersion %q kind %q, want bkctl/v1alpha1 BuilderList or BuilderStatus:\n%s", got.APIVersion, got.Kind, out)
	}
	return got.Items
}

// summary is what a test can know in advance about a node: no pod names, no times.
type nodeSummary struct {
	Name, Kind, Status string
	Desired, Ready     int32
	Declared           []string
	Native, Versions   []string
	Errors             int
}

func summarize(b inspect.Builder) []nodeSummary {
	var out []nodeSummary
	for _, n := range b.Nodes {
		s := nodeSummary{Name: n.Name, Kind: n.Kind, Status: n.Status, Desired: n.DesiredReplicas, Ready: n.ReadyReplicas, Declared: n.Platforms}
		for _, p := range n.Pods {
			if p.Error != "" {
				s.Errors++
			}
			if p.Daemon != nil {
				if len(p.Daemon.Platforms) > 0 { // a worker lists its native platform first
					s.Native = append(s.Native, p.Daemon.Platforms[0])
				}
				s.Versions = append(s.Versions, p.Daemon.BuildkitVersion)
			}
		}
		out = append(out, s)
	}
	return out
}

func TestLsReportsReplicasAndWorkerPlatforms(t *testing.T) {
	lazy.Require(t)
	ns := env.Namespace(t)
	file := writeBuilders(t, ns, twoNodes)
	applyFile(t, file)
	kc := "--kubeconfig=" + env.Kubeconfig

	want := []nodeSummary{
		{Name: "amd", Kind: "Deployment", Status: "running", Desired: 2, Ready: 2, Declared: []string{"linux/amd64"},
			Native: []string{"linux/amd64", "linux/amd64"}, Versions: []string{"v0.34.2", "v0.34.2"}},
		{Name: "arm", Kind: "Deployment", Status: "running", Desired: 1, Ready: 1, Declared: []string{"linux/arm64"},
			Native: []string{"linux/arm64"}, Versions: []string{"v0.34.2"}},
	}
	for name, args := range map[string][]string{
		"from the file":       {"ls", "-f", file, kc, "-o", "json"},
		"by labels in -n":     {"ls", "-n", ns, kc, "-o", "json"},
		"by labels anywhere":  {"ls", "-A", kc, "-o", "json", "--builder", "kube"},
		"one builder of file": {"ls", "-f", file, "--builder", "kube", kc, "-o", "json"},
	} {
		t.Run(name, func(t *testing.T) {
			code, out, errs := runCluster(t, args...)
			if code != 0 {
				t.Fatalf("exit %d\nstderr:\n%s", code, errs)
			}
			bs := decodeBuilders(t, out)
			i := slices.IndexFunc(bs, func(b inspect.Builder) bool { return b.Namespace == ns })
			if i < 0 || bs[i].Name != "kube" {
				t.Fatalf("no builder kube in %s among %d builders:\n%s", ns, len(bs), out)
			}
			if diff := cmp.Diff(want, summarize(bs[i])); diff != "" {
				t.Errorf("nodes (-want +got):\n%s", diff)
			}
			for _, n := range bs[i].Nodes {
				for _, p := range n.Pods {
					if !p.Ready || p.Host != "kwok-"+strings.TrimPrefix(n.Platforms[0], "linux/") {
						t.Errorf("pod %s: ready %v on %q", p.Name, p.Ready, p.Host)
					}
					if d := p.Daemon; d != nil && (d.Cache != nil || d.History != nil) {
						t.Errorf("pod %s: ls asked for cache %v and history %v, which only status asks", p.Name, d.Cache, d.History)
					}
				}
			}
		})
	}

	code, out, errs := runCluster(t, "ls", "-n", ns, kc)
	t.Logf("bkctl ls -n %s:\n%s", ns, out)
	// the daemons of this machine also report what they build emulated (QEMU) or as a variant
	amd, arm := `linux/amd64\*( \(\+\d+\))?(, \S+( \(\+\d+\))?)*`, `linux/arm64\*(, \S+( \(\+\d+\))?)*`
	rows := []*regexp.Regexp{
		regexp.MustCompile(`^NAME/NODE/POD +NAMESPACE/WORKLOAD/HOST +STATUS +READY +BUILDKIT +PLATFORMS$`),
		regexp.MustCompile(`^kube +` + ns + `$`),
		regexp.MustCompile(`^ \\_ amd +Deployment/amd +running +2/2 +v0\.34\.2 +` + amd + `$`),
		regexp.MustCompile(`^     \\_ amd-\S+ +kwok-amd64 +running +1/1 +v0\.34\.2 +` + amd + `$`),
		regexp.MustCompile(`^     \\_ amd-\S+ +kwok-amd64 +running +1/1 +v0\.34\.2 +` + amd + `$`),
		regexp.MustCompile(`^ \\_ arm +Deployment/arm +running +1/1 +v0\.34\.2 +` + arm + `$`),
		regexp.MustCompile(`^     \\_ arm-\S+ +kwok-arm64 +running +1/1 +v0\.34\.2 +` + arm + `$`),
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if code != 0 || errs != "" || len(lines) != len(rows) {
		t.Fatalf("ls = %d, %d lines, want %d\nstdout:\n%s\nstderr:\n%s", code, len(lines), len(rows), out, errs)
	}
	for i, re := range rows {
		if !re.MatchString(lines[i]) {
			t.Errorf("line %d = %q, want %s", i+1, lines[i], re)
		}
	}
	if col := strings.Index(lines[0], "STATUS"); strings.Index(lines[2], "running") != col || strings.Index(lines[3], "running") != col {
		t.Errorf("STATUS column not aligned:\n%s", out)
	}
	// --no-trunc lists every platform the first amd pod's daemon reports
	code, out, _ = runCluster(t, "ls", "-n", ns, kc, "--no-trunc")
	bs := decodeBuilders(t, mustRun(t, "ls", "-n", ns, kc, "-o", "json"))
	if want := strings.Join(append([]string{"linux/amd64*"}, bs[0].Nodes[0].Pods[0].Daemon.Platforms[1:]...), ", "); code != 0 || !strings.Contains(out, " "+want+"\n") {
		t.Errorf("ls --no-trunc = %d, want a pod row ending in %q:\n%s", code, want, out)
	}

	// A pod that does not answer in time is an error in its row, not a failed command.
	code, out, errs = runCluster(t, "ls", "-f", file, kc, "--timeout", "1ns")
	if code != 0 || strings.Count(out, " error ") != 3 || !strings.Contains(out, "no answer within 1ns") || errs != "" {
		t.Errorf("ls --timeout 1ns = %d, want 0 with 3 error rows\nstdout:\n%s\nstderr:\n%s", code, out, errs)
	}
	code, out, _ = runCluster(t, "ls", "-f", file, kc, "--timeout", "1ns", "-o", "json")
	if got := summarize(decodeBuilders(t, out)[0]); code != 0 || got[0].Errors != 2 || got[1].Errors != 1 || got[0].Ready != 2 {
		t.Errorf("ls --timeout 1ns -o json = %d: %+v", code, got)
	}
}

func TestLsNodeNotAppliedAndScaledToZero(t *testing.T) {
	lazy.Require(t)
	ns := env.Namespace(t)
	kc := "--kubeconfig=" + env.Kubeconfig
	applyFile(t, writeBuilders(t, ns, "      - name: amd\n        replicas: 0\n        nodeSelector: {kubernetes.io/arch: amd64}\n"))
	file := writeBuilders(t, ns, "      - name: amd\n        replicas: 0\n      - name: later\n")
	code, out, errs := runCluster(t, "ls", "-f", file, kc, "-o", "json")
	if code != 0 {
		t.Fatalf("ls = %d\n%s", code, errs)
	}
	want := []nodeSummary{
		{Name: "amd", Kind: "Deployment", Status: "inactive"},
		{Name: "later", Status: "not found"},
	}
	if diff := cmp.Diff(want, summarize(decodeBuilders(t, out)[0])); diff != "" {
		t.Errorf("nodes (-want +got):\n%s", diff)
	}
	if code, out, _ := runCluster(t, "ls", "-n", ns+"-none", kc, "-o", "json"); code != 0 || out != "{\n  \"apiVersion\": \"bkctl/v1alpha1\",\n  \"kind\": \"BuilderList\",\n  \"items\": []\n}\n" {
		t.Errorf("ls in an empty namespace = %d, %q", code, out)
	}
	code, _, errs = runCluster(t, "ls", "-f", file, "-n", ns+"-other", kc)
	if code != 1 || !strings.Contains(errs, `metadata.namespace is "`+ns+`", but -n is "`+ns+`-other"`) {
		t.Errorf("ls -f with another -n = %d, stderr %q", code, errs)
	}
	code, _, errs = runCluster(t, "ls", "-f", file, "-A", kc)
	if code != 1 || !strings.Contains(errs, "-A/--all-namespaces selects builders in the cluster") {
		t.Errorf("ls -f with -A = %d, stderr %q", code, errs)
	}
}

func TestStatusShowsLastBuild(t *testing.T) {
	lazy.Require(t)
	ns := env.Namespace(t)
	file := writeBuilders(t, ns, twoNodes)
	applyFile(t, file)
	kc := "--kubeconfig=" + env.Kubeconfig

	dir := t.TempDir()
	writeFile(t, dir, "Dockerfile", "FROM base\nCOPY hello /hello\n")
	writeFile(t, dir, "hello", "hello from "+ns+"\n")
	meta := filepath.Join(t.TempDir(), "metadata.json")
	before := time.Now()
	code, out, errs := runCluster(t, "run", dir, "--builders-file", file, kc, "--progress", "quiet",
		"--build-context", "base=oci-layout://"+env.BaseLayout+"@"+env.BaseDigest, "--metadata-file", meta)
	after := time.Now()
	if code != 0 {
		t.Fatalf("run = %d\nstdout:\n%s\nstderr:\n%s", code, out, errs)
	}
	ref := buildRef(t, meta) // kube/amd/<ref>

	code, out, errs = runCluster(t, "status", "kube", "-n", ns, kc, "-o", "json")
	if code != 0 {
		t.Fatalf("status = %d\n%s", code, errs)
	}
	bs := decodeBuilders(t, out)
	if len(bs) != 1 || len(bs[0].Nodes) != 2 {
		t.Fatalf("status -o json: want builder kube with 2 nodes:\n%s", out)
	}
	var built []string
	for _, n := range bs[0].Nodes {
		for _, p := range n.Pods {
			d := p.Daemon
			if d == nil || d.Cache == nil || p.Error != "" || p.Restarts != 0 || !p.Ready {
				t.Errorf("pod %s: daemon %+v, error %q, restarts %d, ready %v", p.Name, d, p.Error, p.Restarts, p.Ready)
				continue
			}
			h := d.History
			if h == nil {
				t.Errorf("pod %s: no history", p.Name)
				continue
			}
			if h.LastBuild == nil {
				if h.Builds != 0 {
					t.Errorf("pod %s: %d builds but no last build", p.Name, h.Builds)
				}
				continue
			}
			built = append(built, n.Name+"/"+p.Name)
			// the daemon's clock is this machine's: the build ended between the two reads
			if h.Builds != 1 || h.LastBuild.Before(before) || h.LastBuild.After(after) || d.Cache.Size == 0 || d.Cache.Records == 0 {
				t.Errorf("pod %s: builds %d, last build %s not in [%s, %s], cache %+v", p.Name, h.Builds,
					h.LastBuild.Format(time.RFC3339Nano), before.Format(time.RFC3339Nano), after.Format(time.RFC3339Nano), *d.Cache)
			}
			if !daemonHas(t, ns, p.Name, ref) {
				t.Errorf("pod %s reports the last build, but its daemon has no build %s", p.Name, ref)
			}
		}
	}
	if len(built) != 1 || !strings.HasPrefix(built[0], "amd/") {
		t.Errorf("pods with a last build = %v, want one pod of node amd", built)
	}

	code, out, errs = runCluster(t, "status", "-f", file, kc)
	t.Logf("bkctl status -f builders.yaml:\n%s", out)
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	header := regexp.MustCompile(`^BUILDER +NODE +POD +HOST +READY +RESTARTS +AGE +BUILDKIT +CACHE +RECLAIMABLE +BUILDS +LAST BUILD$`)
	builtRow := regexp.MustCompile(`^kube +amd +amd-\S+ +kwok-amd64 +1/1 +0 +\d+s +v0\.34\.2 +[\d.]+[kM]?B +[\d.]+[kM]?B +1 +\d+s ago$`)
	idleRow := regexp.MustCompile(`^kube +(amd|arm) +\S+ +kwok-(amd|arm)64 +1/1 +0 +\d+s +v0\.34\.2 +\S+ +\S+ +0 +-$`)
	if code != 0 || errs != "" || len(lines) != 4 || !header.MatchString(lines[0]) {
		t.Fatalf("status = %d\nstdout:\n%s\nstderr:\n%s", code, out, errs)
	}
	var nBuilt, nIdle int
	for _, l := range lines[1:] {
		switch {
		case builtRow.MatchString(l):
			nBuilt++
		case idleRow.MatchString(l):
			nIdle++
		default:
			t.Errorf("unexpected row %q", l)
		}
	}
	if nBuilt != 1 || nIdle != 2 {
		t.Errorf("rows: %d with a build, %d idle; want 1 and 2\n%s", nBuilt, nIdle, out)
	}
}

func TestStatusErrors(t *testing.T) {
	lazy.Require(t)
	ns := env.Namespace(t)
	kc := "--kubeconfig=" + env.Kubeconfig
	two := writeFile(t, t.TempDir(), "two.yaml", "apiVersion: bkctl/v1alpha1\nkind: Builders\nmetadata: {name: x, namespace: "+ns+
		"}\nbuilders:\n  - name: a\n    nodes: [{}]\n  - name: b\n    nodes: [{}]\n")
	tests := map[string]struct {
		args []string
		want string
	}{
		"no builder":             {[]string{"status", kc}, "status needs a builder name: bkctl status NAME"},
		"unknown builder":        {[]string{"status", "nope", "-n", ns, kc}, `no builder "nope" managed by bkctl in namespace ` + ns},
		"context's namespace":    {[]string{"status", "nope", kc}, `no builder "nope" managed by bkctl in namespace default (hint: bkctl ls -A lists them all)`},
		"two names":              {[]string{"status", "a", "--builder", "b", kc}, "status a --builder b: name one builder"},
		"file with two builders": {[]string{"status", "-f", two, kc}, "defines 2 builders (hint: choose one with --builder)"},
		"not in the file":        {[]string{"status", "-f", two, "--builder", "c", kc}, `builder "c" is not in ` + two},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			code, out, errs := runCluster(t, tt.args...)
			if code != 1 || !strings.Contains(errs, tt.want) {
				t.Errorf("exit %d, want 1 with %q\nstdout:\n%s\nstderr:\n%s", code, tt.want, out, errs)
			}
		})
	}
}

// mustRun runs bkctl against the cluster, fails the test unless it exits 0, and returns stdout.
func mustRun(t *testing.T, args ...string) string {
	t.Helper()
	code, out, errs := runCluster(t, args...)
	if code != 0 {
		t.Fatalf("bkctl %s = %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, out, errs)
	}
	return out
}

// buildRef returns the build's reference from a --metadata-file (builder/node/ref).
func buildRef(t *testing.T, path string) string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(readFile(t, path)), &m); err != nil {
		t.Fatal(err)
	}
	full, _ := m["buildx.build.ref"].(string)
	parts := strings.Split(full, "/")
	if len(parts) != 3 {
		t.Fatalf("buildx.build.ref = %q, want builder/node/ref", full)
	}
	return parts[2]
}

func daemonHas(t *testing.T, ns, pod, ref string) bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	recs, err := env.PodHistory(ctx, ns, pod, ref)
	if err != nil {
		t.Fatal(err)
	}
	return len(recs) > 0
}
