package main

import (
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/bkctl/bkctl/internal/golden"
)

// builders returns a builders file of inventory name with one builder and its nodes.
func builders(name, namespace, builder string, nodes ...string) string {
	var b strings.Builder
	b.WriteString("apiVersion: bkctl/v1alpha1\nkind: Builders\nmetadata:\n  name: " + name + "\n")
	if namespace != "" {
		b.WriteString("  namespace: " + namespace + "\n")
	}
	b.WriteString("builders:\n  - name: " + builder + "\n    nodes:\n")
	for _, n := range nodes {
		b.WriteString("      - name: " + n + "\n")
	}
	return b.String()
}

// renderedNames runs bkctl with args and returns Kind/namespace/name of every object printed
// (render and apply --dry-run=client print the same stream).
func renderedNames(t *testing.T, stdin string, args ...string) []string {
	t.Helper()
	code, out, errs := runCLI(t, stdin, append(args, "-o", "json")...)
	if code != 0 {
		t.Fatalf("bkctl %s: exit %d\n%s", strings.Join(args, " "), code, errs)
	}
	var list struct {
		Items []struct {
			Kind     string `json:"kind"`
			Metadata struct{ Name, Namespace string }
		} `json:"items"`
	}
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatalf("bkctl %s -o json: %v\n%s", strings.Join(args, " "), err, out)
	}
	var names []string
	for _, it := range list.Items {
		names = append(names, it.Kind+"/"+it.Metadata.Namespace+"/"+it.Metadata.Name)
	}
	return names
}

// isolateKubeconfig points KUBECONFIG at a file of the test, so that a developer's own
// kubeconfig cannot change what a test sees.
func isolateKubeconfig(t *testing.T, namespace string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "kubeconfig")
	cfg := "apiVersion: v1\nkind: Config\ncurrent-context: dev\nclusters:\n- name: c\n  cluster: {server: 'https://127.0.0.1:1'}\n" +
		"users:\n- name: u\n  user: {token: x}\ncontexts:\n- name: dev\n  context: {cluster: c, user: u, namespace: " + namespace + "}\n" +
		"- name: other\n  context: {cluster: c, user: u}\n"
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("KUBECONFIG", path)
	return path
}

// TestEveryFileIsRead: before, plan, apply, delete and buildx write kept only the last -f.
func TestEveryFileIsRead(t *testing.T) {
	isolateKubeconfig(t, "ctx-ns")
	dir := t.TempDir()
	a := writeFile(t, dir, "a.yaml", builders("one", "ns", "kube", "amd"))
	b := writeFile(t, dir, "b.yaml", builders("two", "ns", "arm", "arm0"))
	want := []string{"Deployment/ns/amd", "Deployment/ns/arm0"}
	for _, args := range [][]string{
		{"render", "-f", a, "-f", b},
		{"apply", "--dry-run=client", "-f", a, "-f", b},
		{"apply", "--dry-run=client", a, b},
		{"render", "-f", dir},
	} {
		if got := renderedNames(t, "", args...); strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("bkctl %s: rendered %v, want %v", strings.Join(args, " "), got, want)
		}
	}
	if got := renderedNames(t, builders("one", "ns", "kube", "amd"), "render", "-f", "-", "-f", b); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("render -f - -f b: rendered %v, want %v", got, want)
	}

	// Without any file, ./builders.yaml.
	t.Chdir(dir)
	writeFile(t, dir, "builders.yaml", builders("three", "ns", "kube", "only"))
	if got := renderedNames(t, "", "render"); strings.Join(got, " ") != "Deployment/ns/only" {
		t.Errorf("render without -f: %v, want ./builders.yaml's Deployment/ns/only", got)
	}
	os.Remove(filepath.Join(dir, "builders.yaml"))
	code, _, errs := runCLI(t, "", "plan")
	if code != 1 || !strings.Contains(errs, "builders.yaml: no such file") || !strings.Contains(errs, "hint: name the builders file with -f FILE") {
		t.Errorf("plan without -f and no ./builders.yaml: exit %d\n%s", code, errs)
	}
}

// TestFilesFormOneFleet: files that share a metadata.name are one inventory; what two files
// both define is an error at both places, and nothing reaches a cluster.
func TestFilesFormOneFleet(t *testing.T) {
	isolateKubeconfig(t, "ctx-ns")
	dir := t.TempDir()
	a := writeFile(t, dir, "a.yaml", builders("fleet", "ns", "amd", "amd0"))
	b := writeFile(t, dir, "b.yaml", builders("fleet", "ns", "arm", "arm0"))
	names := renderedNames(t, "", "render", a, b)
	if strings.Join(names, " ") != "Deployment/ns/amd0 Deployment/ns/arm0" {
		t.Errorf("one inventory from two files rendered %v", names)
	}

	dup := writeFile(t, dir, "dup.yaml", builders("other", "ns", "x", "amd0"))
	for _, cmd := range [][]string{{"validate"}, {"render"}, {"plan"}, {"apply"}} {
		code, _, errs := runCLI(t, "", append(cmd, a, dup)...)
		if code != 1 || !strings.Contains(errs, "a.yaml:9:9: ") || !strings.Contains(errs, "dup.yaml:9:9: ") || !strings.Contains(errs, `node "amd0" in namespace "ns" is also defined at`) {
			t.Errorf("%s of a node defined in two files: exit %d, want both positions\n%s", cmd[0], code, errs)
		}
	}
	split := writeFile(t, dir, "split.yaml", builders("fleet", "elsewhere", "y", "y0"))
	if code, _, errs := runCLI(t, "", "render", a, split); code != 1 || !strings.Contains(errs, `inventory "fleet" is in namespace "ns"`) {
		t.Errorf("one inventory in two namespaces: exit %d\n%s", code, errs)
	}
}

// TestNamespaceFlags: -n and the context's namespace are the namespace of a file that names
// none, as kubectl's are for an object without one; a file's own namespace must agree with -n.
func TestNamespaceFlags(t *testing.T) {
	kc := isolateKubeconfig(t, "ctx-ns")
	dir := t.TempDir()
	nameless := writeFile(t, dir, "nameless.yaml", builders("inv", "", "kube", "n0"))
	named := writeFile(t, dir, "named.yaml", builders("inv2", "own", "kube2", "n1"))
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"render", nameless}, "Deployment/ctx-ns/n0"},
		{[]string{"render", nameless, "-n", "flag-ns"}, "Deployment/flag-ns/n0"},
		{[]string{"-n", "flag-ns", "render", nameless}, "Deployment/flag-ns/n0"},
		{[]string{"--context", "other", "render", nameless}, "Deployment/default/n0"},
		{[]string{"render", "--kubeconfig", kc, "--context=dev", nameless}, "Deployment/ctx-ns/n0"},
		{[]string{"render", named}, "Deployment/own/n1"},
		{[]string{"render", named, "-n", "own"}, "Deployment/own/n1"},
	} {
		if got := strings.Join(renderedNames(t, "", tc.args...), " "); got != tc.want {
			t.Errorf("bkctl %s: %s, want %s", strings.Join(tc.args, " "), got, tc.want)
		}
	}
	if code, _, errs := runCLI(t, "", "render", named, "-n", "flag-ns"); code != 1 || !strings.Contains(errs, `metadata.namespace is "own", but -n is "flag-ns"`) {
		t.Errorf("-n against the file's namespace: exit %d\n%s", code, errs)
	}
	if code, _, errs := runCLI(t, "", "render", nameless, "--context", "nope"); code != 1 || !strings.Contains(errs, `context "nope" not found`) {
		t.Errorf("a missing context: exit %d\n%s", code, errs)
	}
}

// TestOutputDocuments: every -o json and -o yaml result names its apiVersion and kind.
func TestOutputDocuments(t *testing.T) {
	isolateKubeconfig(t, "ctx-ns")
	dir := t.TempDir()
	a := writeFile(t, dir, "a.yaml", builders("one", "ns", "kube", "amd"))
	bx := t.TempDir()
	for _, tc := range []struct {
		args []string
		kind string
	}{
		{[]string{"validate", a}, "ValidationResult"},
		{[]string{"version"}, "Version"},
		{[]string{"buildx", "write", a, "--buildx-config", bx}, "BuildxWriteResult"},
	} {
		for _, format := range []string{"json", "yaml"} {
			code, out, errs := runCLI(t, "", append(tc.args, "-o", format)...)
			if code != 0 {
				t.Fatalf("bkctl %s -o %s: exit %d\n%s", strings.Join(tc.args, " "), format, code, errs)
			}
			var doc struct{ APIVersion, Kind string }
			var err error
			if format == "json" {
				err = json.Unmarshal([]byte(out), &doc)
				if !strings.HasPrefix(out, "{\n  \"apiVersion\": \"bkctl/v1alpha1\",\n  \"kind\": ") {
					t.Errorf("bkctl %s -o json does not start with apiVersion and kind:\n%s", tc.args[0], out)
				}
			} else {
				err = yaml.Unmarshal([]byte(out), &doc)
			}
			if err != nil || doc.APIVersion != OutputAPIVersion || doc.Kind != tc.kind {
				t.Errorf("bkctl %s -o %s: apiVersion %q kind %q (%v), want %s %s\n%s", strings.Join(tc.args, " "), format, doc.APIVersion, doc.Kind, err, OutputAPIVersion, tc.kind, out)
			}
		}
	}
}

// TestConventions: the names and spellings kubectl and buildx users reach for.
func TestConventions(t *testing.T) {
	isolateKubeconfig(t, "ctx-ns")
	dir := t.TempDir()
	a := writeFile(t, dir, "a.yaml", builders("one", "ns", "kube", "amd"))
	for _, tc := range []struct {
		name string
		args []string
		code int
		out  string // in stdout, or in stderr for a failure
	}{
		{"--version", []string{"--version"}, 0, "bkctl "},
		{"help", []string{"help"}, 0, "Usage: bkctl <command>"},
		{"help of a command", []string{"help", "buildx", "write"}, 0, "Usage: bkctl buildx write"},
		{"build is run", []string{"build", "--help"}, 0, "Usage: bkctl run (build)"},
		{"status takes a name", []string{"status", "--help"}, 0, "bkctl status [<builder>]"},
		{"ls -A", []string{"ls", "--help"}, 0, "-A, --all-namespaces"},
		{"--dry-run=client", []string{"apply", a, "--dry-run=client", "-o", "yaml"}, 0, "kind: Deployment"},
		{"--dry-run=none needs a cluster", []string{"apply", a, "--dry-run=none", "--request-timeout=2s"}, 1, "cannot reach the cluster at https://127.0.0.1:1"},
		{"bare --dry-run is server", []string{"apply", a, "--dry-run", "--request-timeout=2s"}, 1, "cannot reach the cluster at https://127.0.0.1:1"},
		{"--dry-run=bogus", []string{"apply", a, "--dry-run=bogus"}, 1, "Error: --dry-run: --dry-run=bogus: want none, client or server"},
		{"usage errors say Error:", []string{"plan", "--no-such-flag"}, 1, "Error: unknown flag --no-such-flag"},
		{"--request-timeout syntax", []string{"plan", a, "--request-timeout=soon"}, 1, `--request-timeout "soon": want a duration`},
		{"unreachable ls", []string{"ls", "--request-timeout=2s"}, 1, "cannot reach the cluster at https://127.0.0.1:1"},
		{"unreachable status", []string{"status", "kube", "--request-timeout=2s"}, 1, "cannot reach the cluster at https://127.0.0.1:1"},
		{"unreachable build", []string{"build", "--builders-file", a, "--progress=quiet", dir}, 1, "cannot reach the cluster at https://127.0.0.1:1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errs := runCLI(t, "", tc.args...)
			where := out
			if tc.code != 0 {
				where = errs
			}
			if code != tc.code || !strings.Contains(where, tc.out) {
				t.Errorf("bkctl %s: exit %d, want %d with %q\nstdout:\n%s\nstderr:\n%s", strings.Join(tc.args, " "), code, tc.code, tc.out, out, errs)
			}
		})
	}
}

func TestParseRequestTimeout(t *testing.T) {
	for in, want := range map[string]string{"0": "0s", "30s": "30s", "2m": "2m0s", "5": "5s", "": "0s"} {
		if d, err := parseRequestTimeout(in); err != nil || d.String() != want {
			t.Errorf("parseRequestTimeout(%q) = %v, %v; want %s", in, d, err, want)
		}
	}
	for _, in := range []string{"-1s", "soon", "1.5"} {
		if _, err := parseRequestTimeout(in); err == nil {
			t.Errorf("parseRequestTimeout(%q): no error", in)
		}
	}
}

// TestRequestTimeoutOnAHungServer: a server that accepts connections and never answers ends
// every command with an error that names what it was doing, after --request-timeout, instead of
// hanging until Ctrl-C.
func TestRequestTimeoutOnAHungServer(t *testing.T) {
	addr, _ := hungServer(t)
	kc := filepath.Join(t.TempDir(), "kubeconfig")
	cfg := "apiVersion: v1\nkind: Config\ncurrent-context: hung\nclusters:\n- name: c\n  cluster: {server: 'https://" + addr + "', insecure-skip-tls-verify: true}\n" +
		"users:\n- name: u\n  user: {token: x}\ncontexts:\n- name: hung\n  context: {cluster: c, user: u}\n"
	if err := os.WriteFile(kc, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	file := writeFile(t, t.TempDir(), "b.yaml", builders("hung", "ns", "kube", "amd"))
	for _, args := range [][]string{
		{"plan", file},
		{"apply", file},
		{"delete", file},
		{"ls"},
		{"status", "kube"},
	} {
		t.Run(args[0], func(t *testing.T) {
			start := time.Now()
			code, _, errs := runCLI(t, "", append(args, "--kubeconfig", kc, "--request-timeout=1s")...)
			took := time.Since(start)
			t.Logf("bkctl %s against a server that never answers: exit %d after %s\n%s", args[0], code, took.Round(time.Millisecond), errs)
			if code != 1 || !strings.Contains(errs, "cannot reach the cluster at https://"+addr) ||
				!strings.Contains(errs, "did not answer in --request-timeout") {
				t.Errorf("exit %d, want 1 with a request-timeout error\n%s", code, errs)
			}
		})
	}
}

// TestNothingPointsOutside: the repository's files name no file outside it (its design and
// test-environment documents live in docs/).
func TestNothingPointsOutside(t *testing.T) {
	err := filepath.WalkDir(".", func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			switch d.Name() {
			case ".git", ".testenv", "bin", "testdata":
				return filepath.SkipDir
			}
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		// spelled in parts, so that this file does not name them itself
		for _, outside := range []string{".." + "/shared", "TESTENV" + ".md", "DESIGN" + ".md", "STYLE" + ".md"} {
			if strings.Contains(string(data), outside) {
				t.Errorf("%s names %s, which is not in the repository", path, outside)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestLoadRestrictor: a configFile outside the builders file's directory is refused unless
// --load-restrictor=LoadRestrictionsNone, as kustomize's flag of that name.
func TestLoadRestrictor(t *testing.T) {
	isolateKubeconfig(t, "ctx-ns")
	root := t.TempDir()
	writeFile(t, root, "outside.toml", "debug = true\n")
	dir := filepath.Join(root, "fleet")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	file := writeFile(t, dir, "b.yaml", builders("inv", "ns", "kube", "n0")+"        buildkitd: {configFile: ../outside.toml}\n")
	for _, cmd := range []string{"validate", "render"} {
		code, _, errs := runCLI(t, "", cmd, file)
		if code != 1 || !strings.Contains(errs, "b.yaml:10:") || !strings.Contains(errs, "configFile") {
			t.Errorf("%s of a configFile outside: exit %d, want 1 at the field\n%s", cmd, code, errs)
		}
		code, out, errs := runCLI(t, "", cmd, file, "--load-restrictor=LoadRestrictionsNone")
		if code != 0 {
			t.Errorf("%s --load-restrictor=LoadRestrictionsNone: exit %d\n%s", cmd, code, errs)
		}
		if cmd == "render" && !strings.Contains(out, "debug = true") {
			t.Errorf("render --load-restrictor=LoadRestrictionsNone does not carry the config:\n%s", out)
		}
	}
	if code, _, errs := runCLI(t, "", "render", file, "--load-restrictor=bogus"); code != 1 || !strings.Contains(errs, "load restrictor") {
		t.Errorf("--load-restrictor=bogus: exit %d\n%s", code, errs)
	}
}

// hungServer listens on 127.0.0.1, accepts connections and never reads or answers, as an API
// server that hangs. It returns its address and how many connections it accepted so far.
func hungServer(t *testing.T) (string, func() int) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		conns []net.Conn
	)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c) // held open, never read or written
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return l.Addr().String(), func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(conns)
	}
}

// TestOutputGoldens pins the shape of the documents that need no cluster, one golden per kind
// (testdata/output/; -update rewrites them). Paths and versions that differ per run are
// replaced by placeholders.
func TestOutputGoldens(t *testing.T) {
	isolateKubeconfig(t, "ctx-ns")
	dir := t.TempDir()
	good := writeFile(t, dir, "good.yaml", builders("one", "ns", "kube", "amd"))
	bad := writeFile(t, dir, "bad.yaml", builders("two", "ns", "kube", "Bad_Name"))
	bx := t.TempDir()
	v := versionInfo()
	var pairs []string
	for _, p := range [][2]string{{dir, "$DIR"}, {bx, "$BUILDX_CONFIG"}, {v.Version, "$VERSION"}, {v.GoVersion, "$GO"}, {v.Commit, "$COMMIT"}} {
		if p[0] != "" {
			pairs = append(pairs, p[0], p[1])
		}
	}
	norm := strings.NewReplacer(pairs...)
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"ValidationResult.json", []string{"validate", good, bad, "-o", "json"}},
		{"ValidationResult.yaml", []string{"validate", good, bad, "-o", "yaml"}},
		{"BuildxWriteResult.json", []string{"buildx", "write", good, "--buildx-config", bx, "-o", "json"}},
		{"Version.json", []string{"version", "-o", "json"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, out, _ := runCLI(t, "", tc.args...)
			golden.Check(t, filepath.Join("testdata", "output", tc.name), []byte(norm.Replace(out)))
		})
	}
}
