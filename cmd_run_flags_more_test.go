package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// --pull sends image-resolve-mode=pull, and a base image rebuilt under the same tag in the
// registry is what the next build with --pull starts from. The test daemons run BuildKit's OCI
// worker, which keeps no image store of its own: in its default resolve mode it asks the registry
// for every tag on every build too, so the rebuilt image is picked up without --pull as well, and
// the flag's effect on the result cannot be told apart here. What the test proves beyond the
// result is that the mode reached the daemon: the build's record in the daemon's history carries
// the attribute with --pull and lacks it without.
func TestRunPull(t *testing.T) {
	lazy.Require(t)
	ns := env.Namespace(t)
	file := writeBuilders(t, ns, cliNode)
	applyFile(t, file)
	image := env.Registry + "/" + ns + "/pullbase:1"
	pushBase := func(version string) {
		t.Helper()
		dir := t.TempDir()
		writeFile(t, dir, "Dockerfile", "FROM base\nRUN echo "+version+" > /version\n")
		mustRun(t, runArgs(file, dir, "--progress=quiet", "--provenance=false", "--platform=linux/amd64", "-t", image,
			"--output", "type=registry,registry.insecure=true")...)
	}
	dir := t.TempDir()
	writeFile(t, dir, "Dockerfile", "FROM "+image+"\nRUN cat /version > /seen\n")
	build := func(more ...string) (seen string, attrs map[string]string) {
		t.Helper()
		meta := filepath.Join(t.TempDir(), "metadata.json")
		args := runArgs(file, dir, append([]string{"--progress=quiet", "--platform=linux/amd64", "--output=-",
			"--metadata-file", meta}, more...)...)
		code, out, errs := runCluster(t, args...)
		if code != 0 {
			t.Fatalf("bkctl %s = %d\n%s", strings.Join(args, " "), code, errs)
		}
		return tarFile(t, out, "seen"), historyAttrs(t, ns, buildRef(t, meta))
	}

	pushBase("v1-" + ns)
	if seen, attrs := build("--pull"); seen != "v1-"+ns+"\n" || attrs["image-resolve-mode"] != "pull" {
		t.Errorf("first build with --pull: /version %q, image-resolve-mode %q; want v1-%s and pull", seen, attrs["image-resolve-mode"], ns)
	}
	pushBase("v2-" + ns)
	if seen, attrs := build("--pull"); seen != "v2-"+ns+"\n" || attrs["image-resolve-mode"] != "pull" {
		t.Errorf("build with --pull after the tag moved: /version %q, image-resolve-mode %q; want v2-%s and pull", seen, attrs["image-resolve-mode"], ns)
	}
	seen, attrs := build()
	if mode, ok := attrs["image-resolve-mode"]; ok {
		t.Errorf("build without --pull sent image-resolve-mode=%q, want none", mode)
	}
	if seen != "v2-"+ns+"\n" {
		t.Errorf("build without --pull: /version %q; the OCI worker resolves every tag from the registry, want v2-%s", seen, ns)
	}
}

// historyAttrs returns the frontend attributes of build ref as the daemon of the only pod of the
// builder in ns recorded them.
func historyAttrs(t *testing.T, ns, ref string) map[string]string {
	t.Helper()
	pods := podNames(t, ns, "amd")
	if len(pods) != 1 {
		t.Fatalf("pods of node amd: %v, want one", pods)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	recs, err := env.PodHistory(ctx, ns, pods[0], ref)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) == 0 {
		t.Fatalf("build %s is not in the history of pod %s", ref, pods[0])
	}
	return recs[0].FrontendAttrs
}

// --shm-size sets the size of RUN's /dev/shm and --ulimit its limits, read back from files RUN
// wrote into the exported tar; a build without them shows the defaults differ. A limit given
// twice takes the last value, as with docker's and buildx's --ulimit.
func TestRunShmSizeUlimit(t *testing.T) {
	lazy.Require(t)
	ns := env.Namespace(t)
	file := writeBuilders(t, ns, cliNode)
	applyFile(t, file)
	dir := t.TempDir()
	writeFile(t, dir, "Dockerfile", "FROM base\nRUN echo "+ns+" && grep ' /dev/shm ' /proc/mounts > /shm && "+
		"echo nofile=$(ulimit -Sn):$(ulimit -Hn) nproc=$(ulimit -Su):$(ulimit -Hu) > /limits\n")
	shmSize := regexp.MustCompile(`\bsize=(\d+k)\b`)
	read := func(more ...string) (shm, limits string) {
		t.Helper()
		code, out, errs := runCluster(t, runArgs(file, dir, append([]string{"--progress=quiet", "--output=-"}, more...)...)...)
		if code != 0 {
			t.Fatalf("run %v = %d\n%s", more, code, errs)
		}
		mount := tarFile(t, out, "shm")
		m := shmSize.FindStringSubmatch(mount)
		if m == nil {
			t.Fatalf("no size= in RUN's /dev/shm mount %q", mount)
		}
		return m[1], strings.TrimSpace(tarFile(t, out, "limits"))
	}
	defShm, defLimits := read()
	t.Logf("RUN's defaults: /dev/shm size=%s, %s", defShm, defLimits)
	defNproc := strings.Fields(defLimits)[1]
	for _, tc := range []struct {
		flags       []string
		shm, limits string
	}{
		{[]string{"--shm-size=96m"}, "98304k", defLimits},
		{[]string{"--ulimit", "nofile=1357:2468", "--ulimit", "nproc=777:888"}, defShm, "nofile=1357:2468 nproc=777:888"},
		{[]string{"--ulimit", "nofile=1000:2000", "--ulimit", "nofile=1357:2468"}, defShm, "nofile=1357:2468 " + defNproc},
		{[]string{"--shm-size=1g", "--ulimit", "nofile=4096"}, "1048576k", "nofile=4096:4096 " + defNproc},
	} {
		if tc.shm == defShm && tc.limits == defLimits {
			t.Fatalf("case %v expects the defaults: it would prove nothing", tc.flags)
		}
		shm, limits := read(tc.flags...)
		if shm != tc.shm || limits != tc.limits {
			t.Errorf("RUN with %v: /dev/shm size=%s, %s; want size=%s, %s", tc.flags, shm, limits, tc.shm, tc.limits)
		}
	}
}

// --cgroup-parent puts RUN's processes under the given cgroup (BuildKit adds buildkit/ID below
// it), as /proc/self/cgroup inside RUN shows.
func TestRunCgroupParent(t *testing.T) {
	lazy.Require(t)
	ns := env.Namespace(t)
	file := writeBuilders(t, ns, cliNode)
	applyFile(t, file)
	parent := "bkctl-" + ns
	t.Cleanup(func() { removeCgroups(t, parent) })
	dir := t.TempDir()
	writeFile(t, dir, "Dockerfile", "FROM base\nRUN cat /proc/self/cgroup > /cgroup\n")
	code, out, errs := runCluster(t, runArgs(file, dir, "--progress=quiet", "--output=-", "--cgroup-parent", parent)...)
	if code != 0 {
		t.Fatalf("run --cgroup-parent %s = %d\n%s", parent, code, errs)
	}
	cg := tarFile(t, out, "cgroup")
	if !strings.Contains(cg, ":/"+parent+"/buildkit/") {
		t.Errorf("RUN's cgroups are not under /%s/buildkit/:\n%s", parent, cg)
	} else {
		t.Logf("/proc/self/cgroup in RUN with --cgroup-parent %s:\n%s", parent, cg)
	}
}

// removeCgroups removes the empty cgroup directories parent/buildkit and parent that runc left in
// every mounted hierarchy (it removes only the RUN's own cgroup).
func removeCgroups(t *testing.T, parent string) {
	dirs, _ := filepath.Glob(filepath.Join("/sys/fs/cgroup", "*", parent))
	if d := filepath.Join("/sys/fs/cgroup", parent); dirExists(d) {
		dirs = append(dirs, d)
	}
	for _, d := range dirs {
		for _, p := range []string{filepath.Join(d, "buildkit"), d} {
			if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
				t.Errorf("remove cgroup %s: %v", p, err)
			}
		}
	}
}

func dirExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}

// --no-cache-filter reruns the named stages on a rebuild while the others come from the cache:
// each stage writes random bytes, so a rerun stage has new ones. The flag may be repeated.
func TestRunNoCacheFilter(t *testing.T) {
	lazy.Require(t)
	ns := env.Namespace(t)
	file := writeBuilders(t, ns, cliNode)
	applyFile(t, file)
	dir := t.TempDir()
	writeFile(t, dir, "Dockerfile", "FROM base AS one\nRUN od -An -tx1 -N16 /dev/urandom > /one\n"+
		"FROM base AS two\nRUN od -An -tx1 -N16 /dev/urandom > /two\n"+
		"FROM base\nCOPY --from=one /one /one\nCOPY --from=two /two /two\n")
	build := func(more ...string) [2]string {
		t.Helper()
		code, out, errs := runCluster(t, runArgs(file, dir, append([]string{"--progress=quiet", "--output=-"}, more...)...)...)
		if code != 0 {
			t.Fatalf("run %v = %d\n%s", more, code, errs)
		}
		return [2]string{tarFile(t, out, "one"), tarFile(t, out, "two")}
	}
	first := build()
	if d := cmp.Diff(first, build()); d != "" {
		t.Fatalf("a rebuild without --no-cache-filter is not all cached (-first +rebuild)\n%s", d)
	}
	filtered := build("--no-cache-filter", "two")
	if filtered[0] != first[0] {
		t.Errorf("stage one reran with --no-cache-filter two: /one %q, was %q", filtered[0], first[0])
	}
	if filtered[1] == first[1] {
		t.Errorf("stage two came from the cache with --no-cache-filter two: /two %q both times", first[1])
	}
	both := build("--no-cache-filter", "one", "--no-cache-filter", "two")
	if both[0] == filtered[0] || both[1] == filtered[1] {
		t.Errorf("--no-cache-filter one --no-cache-filter two: /one %q, /two %q; both stages must rerun (before: %q, %q)",
			both[0], both[1], filtered[0], filtered[1])
	}
	if code, _, errs := runCluster(t, runArgs(file, dir, "--no-cache", "--no-cache-filter", "two")...); code != 1 ||
		!strings.Contains(errs, "--no-cache and --no-cache-filter cannot be used together") {
		t.Errorf("--no-cache with --no-cache-filter = %d, want 1 naming both\n%s", code, errs)
	}
}

// A build context given as the URL of a tar.gz is downloaded and unpacked by the daemon, its
// Dockerfile found at the root or where -f names it inside the archive; the URL of a plain
// Dockerfile is built with an empty context.
func TestRunTarballURLContext(t *testing.T) {
	lazy.Require(t)
	ns := env.Namespace(t)
	file := writeBuilders(t, ns, cliNode)
	applyFile(t, file)
	src := t.TempDir()
	writeFile(t, src, "Dockerfile", "FROM base\nCOPY msg /msg\n")
	writeFile(t, src, "msg", "tarball "+ns+"\n")
	if err := os.Mkdir(filepath.Join(src, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(src, "sub"), "Other.Dockerfile", "FROM base\nCOPY msg /other\n")
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	if _, err := zw.Write(tarOf(t, src)); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{
		"/ctx.tar.gz": gz.Bytes(),
		"/Dockerfile": []byte("FROM base\nRUN echo url-dockerfile-" + ns + " > /msg\n"),
	}
	var mu sync.Mutex
	served := map[string]int{}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, ok := files[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		mu.Lock()
		served[r.URL.Path]++
		mu.Unlock()
		w.Write(b)
	})}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })

	for name, tc := range map[string]struct {
		path, file, want string
		flags            []string
	}{
		"tar.gz":            {path: "/ctx.tar.gz", file: "msg", want: "tarball " + ns + "\n"},
		"tar.gz with -f":    {path: "/ctx.tar.gz", file: "other", want: "tarball " + ns + "\n", flags: []string{"-f", "sub/Other.Dockerfile"}},
		"Dockerfile by URL": {path: "/Dockerfile", file: "msg", want: "url-dockerfile-" + ns + "\n"},
	} {
		t.Run(name, func(t *testing.T) {
			mu.Lock()
			before := served[tc.path]
			mu.Unlock()
			url := "http://" + l.Addr().String() + tc.path
			code, out, errs := runCluster(t, runArgs(file, url, append([]string{"--progress=quiet", "--output=-"}, tc.flags...)...)...)
			if code != 0 {
				t.Fatalf("run %s %v = %d\n%s", url, tc.flags, code, errs)
			}
			if got := tarFile(t, out, tc.file); got != tc.want {
				t.Errorf("/%s = %q, want %q", tc.file, got, tc.want)
			}
			mu.Lock()
			defer mu.Unlock()
			if served[tc.path] == before {
				t.Errorf("the daemon never fetched %s", url)
			}
		})
	}
}

// --sbom=generator=IMAGE runs that image as BuildKit's SBOM scanner and pushes its SPDX
// statement as an attestation of each platform's image; built on two nodes, both nodes' statements
// are in the merged index. No real scanner can be pulled on the test machines: the generator is
// testdata/sbomgen, a minimal one (the scanned root's files with their SHA-256, no packages)
// built here as a static binary per architecture and pushed as an index of one-layer images. A
// node runs the generator for its own platform, so the arm64 node runs the arm64 one (emulated).
func TestRunSBOMGenerator(t *testing.T) {
	lazy.Require(t)
	ns := env.Namespace(t)
	file := writeBuilders(t, ns, twoNodes)
	applyFile(t, file)
	generator := pushGenerator(t, env.Registry+"/"+ns+"/sbomgen:1", "amd64", "arm64")
	dir := t.TempDir()
	msg := "sbom " + ns + "\n"
	writeFile(t, dir, "Dockerfile", "FROM base\nCOPY msg /msg\n")
	writeFile(t, dir, "msg", msg)
	sum := sha256.Sum256([]byte(msg))

	for name, platforms := range map[string][]string{
		"one node":  {"linux/amd64"},
		"two nodes": {"linux/amd64", "linux/arm64"},
	} {
		t.Run(name, func(t *testing.T) {
			image := env.Registry + "/" + ns + "/" + strings.ReplaceAll(name, " ", "-") + ":1"
			mustRun(t, runArgs(file, dir, "--progress=quiet", "--platform", strings.Join(platforms, ","), "-t", image,
				"--push", "--sbom=generator="+generator)...)
			got := readPushed(t, image)
			var want []string
			for _, p := range platforms {
				want = append(want, p+" "+predicateSLSA, p+" "+predicateSPDX)
			}
			if d := cmp.Diff(want, got.Predicates); d != "" {
				t.Fatalf("in-toto predicates of %s (-want +got)\n%s", image, d)
			}
			for _, p := range platforms {
				checkSBOM(t, attestationStatement(t, image, got.Attestation[p], predicateSPDX), got.ByPlatform[p], "/msg", sum)
			}
		})
	}
}

const (
	predicateSPDX = "https://spdx.dev/Document"
	predicateSLSA = "https://slsa.dev/provenance/v1" // BuildKit v0.34's default SLSA version
)

// checkSBOM checks that st is an SPDX statement of testdata/sbomgen about the image manifest
// subject that lists file with its SHA-256.
func checkSBOM(t *testing.T, st []byte, subject, file string, sum [32]byte) {
	t.Helper()
	var sbom struct {
		PredicateType string `json:"predicateType"`
		Subject       []struct {
			Digest map[string]string `json:"digest"`
		} `json:"subject"`
		Predicate struct {
			Version      string `json:"spdxVersion"`
			CreationInfo struct {
				Creators []string `json:"creators"`
			} `json:"creationInfo"`
			Files []struct {
				Name      string `json:"fileName"`
				Checksums []struct {
					Algorithm string `json:"algorithm"`
					Value     string `json:"checksumValue"`
				} `json:"checksums"`
			} `json:"files"`
		} `json:"predicate"`
	}
	if err := json.Unmarshal(st, &sbom); err != nil {
		t.Fatalf("SPDX statement of %s: %v\n%s", subject, err, st)
	}
	// BuildKit adds itself to the creators
	if sbom.PredicateType != predicateSPDX || sbom.Predicate.Version != "SPDX-2.3" ||
		!slices.Contains(sbom.Predicate.CreationInfo.Creators, "Tool: bkctl-test-sbomgen") {
		t.Errorf("statement of %s: predicateType %q, spdxVersion %q, creators %v; want %s from bkctl-test-sbomgen",
			subject, sbom.PredicateType, sbom.Predicate.Version, sbom.Predicate.CreationInfo.Creators, predicateSPDX)
	}
	if len(sbom.Subject) != 1 || "sha256:"+sbom.Subject[0].Digest["sha256"] != subject {
		t.Errorf("statement subjects %+v, want the image manifest %s", sbom.Subject, subject)
	}
	var listed []string
	for _, f := range sbom.Predicate.Files {
		listed = append(listed, f.Name)
		if f.Name == file && len(f.Checksums) == 1 && f.Checksums[0].Algorithm == "SHA256" &&
			f.Checksums[0].Value == hex.EncodeToString(sum[:]) {
			return
		}
	}
	t.Errorf("the SBOM of %s does not list %s with SHA256 %x; files: %v", subject, file, sum, listed)
}

// pushGenerator builds testdata/sbomgen without cgo for each Linux architecture, packs each as a
// one-layer image whose entrypoint it is, and pushes their index to ref.
func pushGenerator(t *testing.T, ref string, archs ...string) string {
	t.Helper()
	idx := v1.ImageIndex(empty.Index)
	for _, arch := range archs {
		img := generatorImage(t, arch)
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: img,
			Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: arch}}})
	}
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.WriteIndex(r, idx); err != nil {
		t.Fatalf("push the generator image %s: %v", ref, err)
	}
	return ref
}

func generatorImage(t *testing.T, arch string) v1.Image {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "sbomgen")
	cmd := exec.Command("go", "build", "-trimpath", "-o", bin, "./testdata/sbomgen")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+arch)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./testdata/sbomgen for %s: %v\n%s", arch, err, out)
	}
	exe, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	var layer bytes.Buffer
	tw := tar.NewWriter(&layer)
	if err := tw.WriteHeader(&tar.Header{Name: "sbomgen", Mode: 0o755, Size: int64(len(exe)), Typeflag: tar.TypeReg}); err != nil {
		t.Fatal(err)
	}
	if _, err := tw.Write(exe); err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	l, err := tarball.LayerFromReader(bytes.NewReader(layer.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	img, err := mutate.AppendLayers(empty.Image, l)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cfg = cfg.DeepCopy()
	cfg.OS, cfg.Architecture = "linux", arch
	cfg.Config = v1.Config{Entrypoint: []string{"/sbomgen"}}
	if img, err = mutate.ConfigFile(img, cfg); err != nil {
		t.Fatal(err)
	}
	return img
}

// attestationStatement returns the in-toto statement of predicate type pt in the attestation
// manifest dgst of image.
func attestationStatement(t *testing.T, image, dgst, pt string) []byte {
	t.Helper()
	r, err := name.ParseReference(image, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	img, err := remote.Image(r.Context().Digest(dgst))
	if err != nil {
		t.Fatalf("read attestation manifest %s: %v", dgst, err)
	}
	mf, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	for i, d := range mf.Layers {
		if d.Annotations["in-toto.io/predicate-type"] != pt {
			continue
		}
		rc, err := layers[i].Uncompressed()
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		b, err := io.ReadAll(rc)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	t.Fatalf("attestation manifest %s has no %s layer", dgst, pt)
	return nil
}
