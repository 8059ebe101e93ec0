package main

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// bakeSetup applies a builder with two pods on the amd64 node and writes a Dockerfile and the
// bake file in a new working directory, with the base image as the BASE variable.
func bakeSetup(t *testing.T, bakeFile, dockerfile string) (ns, builders, dir string) {
	t.Helper()
	lazy.Require(t)
	lazy.BakeOnPath(t)
	ns = env.Namespace(t)
	builders = writeBuilders(t, ns, "      - name: amd\n        nodeSelector: {kubernetes.io/arch: amd64}\n        replicas: 2\n        timeout: 30s\n")
	applyFile(t, builders)
	dir = t.TempDir()
	writeFile(t, dir, "Dockerfile", dockerfile)
	writeFile(t, dir, "docker-bake.hcl", bakeFile)
	t.Setenv("BASE", "oci-layout://"+env.BaseLayout+"@"+env.BaseDigest)
	t.Chdir(dir)
	return ns, builders, dir
}

// bakeArgs are the arguments of bkctl bake on builders, granted to read the base image's OCI
// layout, which is outside the working directory.
func bakeArgs(builders string, more ...string) []string {
	return append([]string{"bake", "--builders-file", builders, "--kubeconfig=" + env.Kubeconfig, "--allow", "fs.read=" + env.BaseLayout}, more...)
}

// bake spreads the targets over the node's pods, each pod getting its share, and builds each
// target on the same pod again when run again (the daemons' build history shows it).
func TestBakeSpreadsTargetsStickily(t *testing.T) {
	ns, builders, _ := bakeSetup(t, bakeHCL, "FROM base\nARG T\nRUN echo $T > /t\n")
	args := bakeArgs(builders, "--progress=plain", "--max-parallelism", "2")
	var first map[string][]string
	for run := range 2 {
		code, _, errs := runCluster(t, args...)
		if code != 0 {
			t.Fatalf("bake (run %d) = %d\n%s", run+1, code, errs)
		}
		for _, tg := range []string{"one", "m-a", "m-b", "m-c"} {
			if !strings.Contains(errs, "["+tg+"] ") {
				t.Errorf("run %d: no progress line prefixed with [%s]\n%s", run+1, tg, errs)
			}
		}
		byPod := map[string][]string{} // pod → targets in its history
		for _, pod := range podNames(t, ns, "amd") {
			byPod[pod] = slices.Compact(slices.Sorted(slices.Values(historyArg(t, ns, pod, "T"))))
		}
		t.Logf("run %d: targets by pod %v", run+1, byPod)
		if len(byPod) != 2 {
			t.Fatalf("pods of node amd: %v, want 2", byPod)
		}
		all := map[string]int{}
		for pod, ts := range byPod {
			if len(ts) != 2 {
				t.Errorf("run %d: pod %s built %v, want its share: 2 of the 4 targets", run+1, pod, ts)
			}
			for _, tg := range ts {
				all[tg]++
			}
		}
		for _, tg := range []string{"one", "m-a", "m-b", "m-c"} {
			if all[tg] != 1 {
				t.Errorf("run %d: target %s is in the history of %d pods, want exactly 1 (sticky)", run+1, tg, all[tg])
			}
		}
		if run == 0 {
			first = byPod
			continue
		}
		for pod, ts := range byPod {
			if !slices.Equal(ts, first[pod]) {
				t.Errorf("rerun: pod %s built %v, first run %v", pod, ts, first[pod])
			}
		}
	}
}

const bakeFailHCL = `variable "BASE" {}
group "default" { targets = ["good", "bad"] }
target "common" {
  contexts = { base = BASE }
  output   = ["type=cacheonly"]
}
target "good" {
  inherits          = ["common"]
  dockerfile-inline = "FROM base\nRUN sleep 3 && echo good > /g\n"
}
target "bad" {
  inherits          = ["common"]
  dockerfile-inline = "FROM base\nRUN echo failing; exit 3\n"
}
`

// A failing target fails the bake and the error names it. By default (fail-fast) it cancels the
// others and no metadata is written; with --jobs defer-error the others finish and their
// metadata is written.
func TestBakeFailingTarget(t *testing.T) {
	_, builders, dir := bakeSetup(t, bakeFailHCL, "FROM base\n")
	meta := filepath.Join(dir, "meta.json")
	base := bakeArgs(builders, "--progress=plain", "--metadata-file", meta)

	code, _, errs := runCluster(t, base...)
	if code != 1 || !strings.Contains(errs, "Error: target bad: ") || !strings.Contains(errs, "exit code: 3") {
		t.Fatalf("bake (fail-fast) = %d, want 1 and target bad's failure\n%s", code, errs)
	}
	if _, err := os.Stat(meta); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("fail-fast wrote %s (err %v), want no metadata", meta, err)
	}

	code, _, errs = runCluster(t, append(base, "--jobs", "defer-error")...)
	if code != 1 || !strings.Contains(errs, "Error: target bad: ") {
		t.Fatalf("bake --jobs defer-error = %d, want 1 and target bad's failure\n%s", code, errs)
	}
	var got map[string]map[string]any
	b, err := os.ReadFile(meta)
	if err != nil {
		t.Fatalf("defer-error wrote no metadata: %v", err)
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if ref, _ := got["good"]["buildx.build.ref"].(string); !strings.HasPrefix(ref, "kube/amd/") {
		t.Errorf("metadata of good = %v, want its build ref kube/amd/…", got["good"])
	}
	if _, ok := got["bad"]; ok {
		t.Errorf("metadata has the failed target bad: %v", got["bad"])
	}
}

// A pushed bake target is what bkctl run pushes: buildx's default mode=min provenance, the
// labels and annotations of the target; a dockerfile-inline and a secret from the environment
// reach the build.
func TestBakePushesLikeRun(t *testing.T) {
	lazy.Require(t)
	image := env.Registry + "/" + strings.ToLower(t.Name()) + ":1"
	hcl := `variable "BASE" {}
target "default" {
  contexts          = { base = BASE }
  dockerfile-inline = "FROM base\nRUN --mount=type=secret,id=tok test \"$(cat /run/secrets/tok)\" = s3cret && echo ok > /ok\n"
  secret            = ["id=tok,env=TOK"]
  tags              = ["` + image + `"]
  labels            = { "org.example.from" = "bake" }
  annotations       = ["index:org.example.note=hi"]
}
`
	_, builders, _ := bakeSetup(t, hcl, "FROM base\n")
	t.Setenv("TOK", "s3cret")
	code, _, errs := runCluster(t, bakeArgs(builders, "--push")...)
	if code != 0 {
		t.Fatalf("bake --push = %d\n%s", code, errs)
	}
	p := readPushed(t, image)
	if !slices.Contains(p.Predicates, "linux/amd64 https://slsa.dev/provenance/v1") {
		t.Errorf("predicates %v, want the default provenance of linux/amd64", p.Predicates)
	}
	if p.Labels["linux/amd64"]["org.example.from"] != "bake" || p.Index["org.example.note"] != "hi" {
		t.Errorf("labels %v, index annotations %v: want the target's", p.Labels, p.Index)
	}
	t.Setenv("TOK", "wrong")
	code, _, errs = runCluster(t, bakeArgs(builders, "--push", "--no-cache")...)
	if code != 1 {
		t.Errorf("bake with the wrong secret = %d, want 1 (the RUN checks it)\n%s", code, errs)
	}
}

// historyArg returns the values of build arg name in the build history of the pod's buildkitd.
func historyArg(t *testing.T, ns, pod, name string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	recs, err := env.PodHistory(ctx, ns, pod, "")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range recs {
		if v, ok := r.FrontendAttrs["build-arg:"+name]; ok {
			out = append(out, v)
		}
	}
	return out
}

// bkctl bake and the real buildx bake, given the same bake file (a group, a matrix, a target of
// two platforms) on the same builder (the instance `bkctl buildx write` makes), push the same
// manifests with the same attestation kinds, and with SOURCE_DATE_EPOCH the same image digests
// (rewrite-timestamp makes the layers reproducible too: bkctl builds svc-b on another pod than
// buildx, where no cache gives it buildx's layer).
func TestBakeMatchesBuildxBake(t *testing.T) {
	lazy.Require(t)
	lazy.BakeOnPath(t)
	ns := env.Namespace(t)
	builders := writeBuilders(t, ns, twoNodes)
	applyFile(t, builders)
	bx := t.TempDir()
	if code, out, errs := runCLI(t, "", "buildx", "write", "-f", builders, "--buildx-config", bx, "--kubeconfig", env.Kubeconfig); code != 0 {
		t.Fatalf("buildx write = %d\nstdout:\n%s\nstderr:\n%s", code, out, errs)
	}
	dir := t.TempDir()
	writeFile(t, dir, "Dockerfile", "FROM base\nARG SOURCE_DATE_EPOCH\nARG V\nRUN echo $V > /v\n")
	writeFile(t, dir, "docker-bake.hcl", `variable "BASE" {}
variable "REPO" {}
variable "TOOL" {}
group "default" { targets = ["app", "svc"] }
target "common" {
  contexts = { base = BASE }
  output   = ["type=registry,registry.insecure=true,rewrite-timestamp=true"]
}
target "app" {
  inherits  = ["common"]
  platforms = ["linux/amd64", "linux/arm64"]
  args      = { V = "app" }
  tags      = ["${REPO}/${TOOL}-app:1"]
}
target "svc" {
  inherits = ["common"]
  name     = "svc-${v}"
  matrix   = { v = ["a", "b"] }
  args     = { V = v }
  tags     = ["${REPO}/${TOOL}-svc-${v}:1"]
}
`)
	t.Chdir(dir)
	t.Setenv("BASE", "oci-layout://"+env.BaseLayout+"@"+env.BaseDigest)
	t.Setenv("REPO", env.Registry+"/"+ns)
	t.Setenv("SOURCE_DATE_EPOCH", "1700000000")

	t.Setenv("TOOL", "buildx")
	if out, err := tryBuildx(t, bx, "--builder", "kube", "bake", "--progress", "quiet", "--allow", "fs.read="+env.BaseLayout); err != nil {
		t.Fatalf("buildx bake: %v\n%s", err, out)
	}
	t.Setenv("TOOL", "bkctl")
	if code, _, errs := runCluster(t, bakeArgs(builders, "--progress", "quiet")...); code != 0 {
		t.Fatalf("bkctl bake = %d\n%s", code, errs)
	}
	for _, target := range []string{"app", "svc-a", "svc-b"} {
		want, got := readPushed(t, env.Registry+"/"+ns+"/buildx-"+target+":1"), readPushed(t, env.Registry+"/"+ns+"/bkctl-"+target+":1")
		if d := cmp.Diff(want.Platforms, got.Platforms); d != "" {
			t.Errorf("%s: manifests: buildx (-) vs bkctl (+)\n%s", target, d)
		}
		if d := cmp.Diff(want.Predicates, got.Predicates); d != "" {
			t.Errorf("%s: attestation predicates: buildx (-) vs bkctl (+)\n%s", target, d)
		}
		if d := cmp.Diff(want.ByPlatform, got.ByPlatform); d != "" {
			t.Errorf("%s: image manifest digests with SOURCE_DATE_EPOCH: buildx (-) vs bkctl (+)\n%s", target, d)
		}
		t.Logf("%s: buildx %v | bkctl %v", target, want.Platforms, got.Platforms)
	}
}

// bake --check evaluates every target's Dockerfile with the linter instead of building: the
// results are printed per target, and a warning in one of them fails the bake as in buildx.
func TestBakeCheck(t *testing.T) {
	hcl := `variable "BASE" {}
group "default" { targets = ["clean", "warns"] }
target "clean" {
  contexts          = { base = BASE }
  dockerfile-inline = "FROM base AS one\nFROM base AS two\nCOPY --from=one /bin/busybox /bb\n"
}
target "warns" {
  contexts          = { base = BASE }
  dockerfile-inline = "FROM base AS one\nFROM base as two\nCOPY --from=one /bin/busybox /bb\n"
}
`
	_, builders, _ := bakeSetup(t, hcl, "FROM base\n")
	code, out, errs := runCluster(t, bakeArgs(builders, "--check", "--progress=quiet")...)
	want := []string{"target clean:\nCheck complete, no warnings found.", "target warns:\n", "FromAsCasing", "Check complete, 1 warning has been found!"}
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Errorf("bake --check output lacks %q", w)
		}
	}
	if code != 1 {
		t.Errorf("bake --check with a warning in one target = %d, want 1", code)
	}
	if t.Failed() {
		t.Logf("stdout:\n%s\nstderr:\n%s", out, errs)
	}
	code, out, errs = runCluster(t, bakeArgs(builders, "--call=check", "--progress=quiet", "clean")...)
	if code != 0 || !strings.Contains(out, "Check complete, no warnings found.") {
		t.Errorf("bake --call=check clean = %d, want 0\nstdout:\n%s\nstderr:\n%s", code, out, errs)
	}
}

// With --no-spread every target goes where bkctl run would send it: on a sticky node, the one
// pod of their common context, as buildx does.
func TestBakeNoSpread(t *testing.T) {
	ns, builders, _ := bakeSetup(t, bakeHCL, "FROM base\nARG T\nRUN echo $T > /t\n")
	if code, _, errs := runCluster(t, bakeArgs(builders, "--no-spread", "--progress=quiet")...); code != 0 {
		t.Fatalf("bake --no-spread = %d\n%s", code, errs)
	}
	var built []string
	for _, pod := range podNames(t, ns, "amd") {
		if ts := historyArg(t, ns, pod, "T"); len(ts) > 0 {
			built = append(built, pod+": "+strings.Join(slices.Sorted(slices.Values(ts)), ","))
		}
	}
	if len(built) != 1 || !strings.HasSuffix(built[0], ": m-a,m-b,m-c,one") {
		t.Errorf("pods that built (pod: targets) %v, want one pod with all four targets", built)
	}
}
