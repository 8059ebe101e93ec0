package main

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// runArgs are the arguments of bkctl run on file with the base image as named context.
func runArgs(file, dir string, more ...string) []string {
	return append([]string{"run", dir, "--builders-file", file, "--kubeconfig=" + env.Kubeconfig,
		"--build-context", "base=oci-layout://" + env.BaseLayout + "@" + env.BaseDigest}, more...)
}

// pushed describes an image as the registry serves it: its manifests by platform (attestation
// manifests as "unknown/unknown → PLATFORM-DIGEST"), the in-toto predicate types of each
// attestation, the index and manifest annotations, and each image's config labels.
type pushed struct {
	Digest      string
	Platforms   []string
	Predicates  []string
	Index       map[string]string
	Manifests   map[string]map[string]string // platform → annotations
	Labels      map[string]map[string]string // platform → config labels
	ByPlatform  map[string]string            // platform → manifest digest
	Attestation map[string]string            // attested platform → attestation manifest digest
	Statements  map[string]map[string]any    // attested platform → its in-toto statement
}

// readPushed reads image ref back from the test registry.
func readPushed(t *testing.T, ref string) pushed {
	t.Helper()
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	idx, err := remote.Index(r)
	if err != nil {
		t.Fatalf("read index %s: %v", ref, err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	d, _ := idx.Digest()
	p := pushed{Digest: d.String(), Index: im.Annotations, Manifests: map[string]map[string]string{},
		Labels: map[string]map[string]string{}, ByPlatform: map[string]string{}, Attestation: map[string]string{},
		Statements: map[string]map[string]any{}}
	byDigest := map[string]string{}
	for _, m := range im.Manifests {
		if m.Annotations["vnd.docker.reference.type"] != "attestation-manifest" {
			byDigest[m.Digest.String()] = m.Platform.String()
		}
	}
	for _, m := range im.Manifests {
		img, err := idx.Image(m.Digest)
		if err != nil {
			t.Fatal(err)
		}
		mf, err := img.Manifest()
		if err != nil {
			t.Fatal(err)
		}
		if m.Annotations["vnd.docker.reference.type"] == "attestation-manifest" {
			of := byDigest[m.Annotations["vnd.docker.reference.digest"]]
			p.Platforms = append(p.Platforms, m.Platform.String()+" → "+of)
			p.Attestation[of] = m.Digest.String()
			for _, l := range mf.Layers {
				p.Predicates = append(p.Predicates, of+" "+l.Annotations["in-toto.io/predicate-type"])
			}
			layers, err := img.Layers()
			if err != nil || len(layers) == 0 {
				t.Fatalf("layers of the attestation of %s: %v", of, err)
			}
			rc, err := layers[0].Uncompressed()
			if err != nil {
				t.Fatal(err)
			}
			var st map[string]any
			if err := json.NewDecoder(rc).Decode(&st); err != nil {
				t.Fatalf("attestation of %s: %v", of, err)
			}
			rc.Close()
			p.Statements[of] = st
			continue
		}
		plat := m.Platform.String()
		p.Platforms = append(p.Platforms, plat)
		p.ByPlatform[plat] = m.Digest.String()
		p.Manifests[plat] = mf.Annotations
		cfg, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		p.Labels[plat] = cfg.Config.Labels
	}
	slices.Sort(p.Platforms)
	slices.Sort(p.Predicates)
	return p
}

// Image outputs get buildx's default mode=min provenance, one attestation manifest per platform
// (platform unknown/unknown, an in-toto SLSA provenance layer); --provenance=false and
// BUILDX_NO_DEFAULT_ATTESTATIONS turn it off. --annotation reaches the index and the manifests,
// --label the configs, and --iidfile holds the digest the registry serves.
func TestRunAttestationsAnnotationsLabels(t *testing.T) {
	lazy.Require(t)
	ns := env.Namespace(t)
	file := writeBuilders(t, ns, twoNodes)
	applyFile(t, file)
	dir := t.TempDir()
	writeFile(t, dir, "Dockerfile", "FROM base\nCOPY hello /hello\n")
	writeFile(t, dir, "hello", "attest "+ns+"\n")
	both := []string{"linux/amd64", "linux/arm64"}
	prov := "https://slsa.dev/provenance/v1" // BuildKit v0.34's default SLSA version

	for name, tc := range map[string]struct {
		flags      []string
		env        string
		predicates []string
	}{
		"default":                  {predicates: []string{"linux/amd64 " + prov, "linux/arm64 " + prov}},
		"mode=max":                 {flags: []string{"--provenance", "mode=max"}, predicates: []string{"linux/amd64 " + prov, "linux/arm64 " + prov}},
		"provenance=false":         {flags: []string{"--provenance=false"}},
		"no default (environment)": {env: "1"},
	} {
		t.Run(name, func(t *testing.T) {
			if tc.env != "" {
				t.Setenv("BUILDX_NO_DEFAULT_ATTESTATIONS", tc.env)
			}
			image := env.Registry + "/" + ns + "/" + strings.NewReplacer(" ", "-", "(", "", ")", "", "=", "-").Replace(name) + ":1"
			iid := filepath.Join(t.TempDir(), "iid")
			args := runArgs(file, dir, append([]string{"--progress=quiet", "--platform", strings.Join(both, ","), "-t", image,
				"--output", "type=registry,registry.insecure=true", "--iidfile", iid,
				"--annotation", "index:org.bkctl.test=idx", "--annotation", "manifest:org.bkctl.test=man",
				"--label", "org.bkctl.label=" + ns}, tc.flags...)...)
			mustRun(t, args...)
			got := readPushed(t, image)
			want := slices.Clone(both)
			for _, p := range tc.predicates {
				want = append(want, "unknown/unknown → "+strings.Fields(p)[0])
			}
			slices.Sort(want)
			if d := cmp.Diff(want, got.Platforms); d != "" {
				t.Errorf("manifests of %s (-want +got)\n%s", image, d)
			}
			if d := cmp.Diff(tc.predicates, got.Predicates); d != "" {
				t.Errorf("in-toto predicates (-want +got)\n%s", d)
			}
			if got.Index["org.bkctl.test"] != "idx" {
				t.Errorf("index annotations %v lack org.bkctl.test=idx", got.Index)
			}
			for _, p := range both {
				if got.Manifests[p]["org.bkctl.test"] != "man" {
					t.Errorf("%s manifest annotations %v lack org.bkctl.test=man", p, got.Manifests[p])
				}
				if got.Labels[p]["org.bkctl.label"] != ns {
					t.Errorf("%s config labels %v lack org.bkctl.label=%s", p, got.Labels[p], ns)
				}
			}
			if id := readFile(t, iid); id != got.Digest {
				t.Errorf("--iidfile has %q, the registry serves %s as %s", id, image, got.Digest)
			}
		})
	}
}

// --check runs the Dockerfile's lint rules instead of building: a warning is printed with its
// rule and line and exits 1, a clean file says so and exits 0.
func TestRunCheck(t *testing.T) {
	lazy.Require(t)
	ns := env.Namespace(t)
	file := writeBuilders(t, ns, cliNode)
	applyFile(t, file)
	dir := t.TempDir()
	writeFile(t, dir, "Dockerfile", "FROM base AS one\nFROM base as two\nCOPY --from=one /bin/busybox /bb\n")
	code, out, errs := runCluster(t, runArgs(file, dir, "--check", "--progress=quiet")...)
	if code != 1 || !strings.Contains(out, "Check complete, 1 warning has been found!") || !strings.Contains(out, "FromAsCasing") {
		t.Errorf("--check on a lint warning = %d, want 1 with the FromAsCasing warning\nstdout:\n%s\nstderr:\n%s", code, out, errs)
	}
	t.Logf("--check:\n%s", out)
	writeFile(t, dir, "Dockerfile", "FROM base AS one\nFROM base AS two\nCOPY --from=one /bin/busybox /bb\n")
	code, out, errs = runCluster(t, runArgs(file, dir, "--call=check", "--progress=quiet")...)
	if code != 0 || !strings.Contains(out, "Check complete, no warnings found.") {
		t.Errorf("--call=check on a clean file = %d, want 0\nstdout:\n%s\nstderr:\n%s", code, out, errs)
	}
}

// RUN --network=host needs --allow network.host, as with buildx; --add-host entries are in RUN's
// /etc/hosts; -o type=cacheonly exports nothing and warns about nothing.
func TestRunNetworkHostAddHostCacheOnly(t *testing.T) {
	lazy.Require(t)
	ns := env.Namespace(t)
	file := writeBuilders(t, ns, cliNode)
	applyFile(t, file)
	dir := t.TempDir()
	writeFile(t, dir, "Dockerfile", "FROM base\nRUN --network=host echo "+ns+" > /net\n")
	code, _, errs := runCluster(t, runArgs(file, dir, "--progress=plain", "-o", "type=cacheonly")...)
	if code != 1 || !strings.Contains(errs, "network.host is not allowed") {
		t.Fatalf("RUN --network=host without --allow = %d, want 1 with: network.host is not allowed\n%s", code, errs)
	}
	code, _, errs = runCluster(t, runArgs(file, dir, "--progress=quiet", "--allow", "network.host", "-o", "type=cacheonly")...)
	if code != 0 || errs != "" {
		t.Fatalf("RUN --network=host --allow network.host -o type=cacheonly = %d, want 0 and nothing on stderr\n%s", code, errs)
	}

	writeFile(t, dir, "Dockerfile", "FROM base\nRUN grep db.bkctl.test /etc/hosts > /hosts\n")
	code, out, errs := runCluster(t, runArgs(file, dir, "--progress=quiet", "--add-host", "db.bkctl.test:10.1.2.3", "--output=-")...)
	if code != 0 {
		t.Fatalf("run --add-host = %d\n%s", code, errs)
	}
	if got := tarFile(t, out, "hosts"); !strings.Contains(got, "10.1.2.3") {
		t.Errorf("/etc/hosts line of db.bkctl.test in RUN = %q, want 10.1.2.3", got)
	}
}

// A git repository over HTTP is a build context the daemon clones; a tar archive or a
// Dockerfile on stdin are too, and -f - reads the Dockerfile from stdin.
func TestRunRemoteAndStdinContexts(t *testing.T) {
	lazy.Require(t)
	ns := env.Namespace(t)
	file := writeBuilders(t, ns, cliNode)
	applyFile(t, file)
	src := t.TempDir()
	writeFile(t, src, "Dockerfile", "FROM base\nCOPY msg /msg\n")
	writeFile(t, src, "msg", "git "+ns+"\n")

	t.Run("git over http", func(t *testing.T) {
		url := gitServer(t, src)
		code, out, errs := runCluster(t, runArgs(file, url, "--progress=quiet", "--output=-")...)
		if code != 0 {
			t.Fatalf("run %s = %d\n%s", url, code, errs)
		}
		if got := tarFile(t, out, "msg"); got != "git "+ns+"\n" {
			t.Errorf("/msg = %q from the git context", got)
		}
	})
	t.Run("tar on stdin", func(t *testing.T) {
		code, out, errs := runStdin(t, tarOf(t, src), runArgs(file, "-", "--progress=quiet", "--output=-")...)
		if code != 0 {
			t.Fatalf("run - = %d\n%s", code, errs)
		}
		if got := tarFile(t, out, "msg"); got != "git "+ns+"\n" {
			t.Errorf("/msg = %q from the stdin context", got)
		}
	})
	t.Run("Dockerfile on stdin", func(t *testing.T) {
		df := "FROM base\nRUN echo stdin-" + ns + " > /msg\n"
		code, out, errs := runStdin(t, []byte(df), runArgs(file, "-", "--progress=quiet", "--output=-")...)
		if code != 0 {
			t.Fatalf("run - (Dockerfile) = %d\n%s", code, errs)
		}
		if got := tarFile(t, out, "msg"); got != "stdin-"+ns+"\n" {
			t.Errorf("/msg = %q", got)
		}
		code, out, errs = runStdin(t, []byte("FROM base\nCOPY msg /copied\n"), runArgs(file, src, "-f", "-", "--progress=quiet", "--output=-")...)
		if code != 0 {
			t.Fatalf("run -f - = %d\n%s", code, errs)
		}
		if got := tarFile(t, out, "copied"); got != "git "+ns+"\n" {
			t.Errorf("/copied = %q", got)
		}
	})
}

// -q prints only the image ID, the digest the registry serves.
func TestRunQuietPrintsImageID(t *testing.T) {
	lazy.Require(t)
	ns := env.Namespace(t)
	file := writeBuilders(t, ns, cliNode)
	applyFile(t, file)
	dir := t.TempDir()
	writeFile(t, dir, "Dockerfile", "FROM base\nRUN echo "+ns+" > /q\n")
	image := env.Registry + "/" + ns + "/quiet:1"
	code, out, errs := runCluster(t, runArgs(file, dir, "-q", "--provenance=false", "-t", image, "--output", "type=registry,registry.insecure=true")...)
	if code != 0 || errs != "" {
		t.Fatalf("run -q = %d, want 0 and nothing on stderr\n%s", code, errs)
	}
	r, err := name.ParseReference(image, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	img, err := remote.Image(r)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := img.ConfigName()
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(out) != cfg.String() {
		t.Errorf("run -q printed %q, want the image's config digest %s (buildx's image ID)", out, cfg)
	}
}

// runStdin runs bkctl with stdin.
func runStdin(t *testing.T, stdin []byte, args ...string) (int, string, string) {
	t.Helper()
	var out, errw bytes.Buffer
	code := run(t.Context(), args, streams{In: bytes.NewReader(stdin), Out: &out, Err: &errw})
	return code, out.String(), errw.String()
}

// tarOf returns the files of dir as a tar archive.
func tarOf(t *testing.T, dir string) []byte {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	if err := tw.AddFS(os.DirFS(dir)); err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// gitServer commits the files of src into a bare repository and serves it over git's dumb HTTP
// protocol on 127.0.0.1, returning the repository's URL.
func gitServer(t *testing.T, src string) string {
	t.Helper()
	work, bare := t.TempDir(), filepath.Join(t.TempDir(), "repo.git")
	git := func(dir string, args ...string) {
		t.Helper()
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@t", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@t")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, work, e.Name(), string(b))
	}
	git(work, "init", "-q", "-b", "main")
	git(work, "add", ".")
	git(work, "commit", "-q", "-m", "context")
	git(work, "clone", "-q", "--bare", work, bare)
	git(bare, "update-server-info")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.FileServer(http.Dir(filepath.Dir(bare)))}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return fmt.Sprintf("http://%s/repo.git#main", l.Addr())
}
