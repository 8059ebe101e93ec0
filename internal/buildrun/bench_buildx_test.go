package buildrun_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bkctl/bkctl/internal/buildrun"
	"github.com/bkctl/bkctl/internal/buildxstore"
	"github.com/bkctl/bkctl/internal/spec"
)

// sideBySide is a builder applied from a builders file, with the bkctl binary built from this
// tree and the real buildx given the instance `bkctl buildx write` makes for it.
type sideBySide struct {
	file, bkctl, buildxConfig string
}

func newSideBySide(b *testing.B, yaml string) *sideBySide {
	b.Helper()
	dir := b.TempDir()
	s := &sideBySide{file: filepath.Join(dir, "builders.yaml"), bkctl: filepath.Join(dir, "bin", "bkctl"), buildxConfig: filepath.Join(dir, "buildx")}
	if err := os.WriteFile(s.file, []byte(yaml), 0o644); err != nil {
		b.Fatal(err)
	}
	applyBuilder(&testing.T{}, yaml)
	res, err := spec.Load(s.file, nil)
	if err != nil {
		b.Fatal(err)
	}
	opts := buildxstore.DefaultWriteOptions()
	opts.Kubeconfig = env.Kubeconfig
	if _, err := buildxstore.WriteBuilders(context.Background(), s.buildxConfig, res.File, opts); err != nil {
		b.Fatal(err)
	}
	// bkctl with bkctl-bake next to it, as make build puts them
	cmd := exec.Command("go", "build", "-trimpath", "-o", filepath.Dir(s.bkctl)+string(filepath.Separator), "../..", "../../cmd/bkctl-bake")
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("build bkctl: %v\n%s", err, out)
	}
	return s
}

// time runs one command of the two tools in dir and returns its wall time.
func (s *sideBySide) time(b *testing.B, dir string, tool string, args ...string) time.Duration {
	b.Helper()
	var cmd *exec.Cmd
	switch tool {
	case "bkctl":
		cmd = exec.Command(s.bkctl, append(args, "--builders-file", s.file, "--kubeconfig", env.Kubeconfig)...)
	case "buildx":
		cmd = exec.Command(filepath.Join(env.BinDir, "buildx"), append([]string{"--builder", "kube"}, args...)...)
	}
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "BUILDX_CONFIG="+s.buildxConfig, "KUBECONFIG="+env.Kubeconfig, "DOCKER_CONFIG="+b.TempDir())
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	if err := cmd.Run(); err != nil {
		b.Fatalf("%s %v: %v\n%s", tool, args, err, out.String())
	}
	return time.Since(start)
}

// BenchmarkRunVsBuildx times `bkctl run` against the real `buildx build` on the same builder and
// daemons, both as processes with the same flags and their default provenance attestation: a
// small single-platform push, a push of two platforms (one per node), and a fresh 100 MB context.
// Each round writes new content, so no build is a cache hit, and the order of the tools
// alternates. It prints the medians and bkctl's ratio to buildx.
func BenchmarkRunVsBuildx(b *testing.B) {
	lazy.Require(b)
	ns, err := env.CreateNamespace(context.Background(), "bench-vs-buildx")
	if err != nil {
		b.Fatal(err)
	}
	defer env.DeleteNamespace(context.Background(), ns)
	s := newSideBySide(b, builderYAML(ns, "sticky", 1))
	dir := b.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM base\nCOPY data /data\n"), 0o644); err != nil {
		b.Fatal(err)
	}
	base := "base=oci-layout://" + env.BaseLayout + "@" + env.BaseDigest
	cases := []struct {
		name string
		size int
		args func(tool string, round int) []string
	}{
		{"small push", 16, func(tool string, round int) []string {
			return []string{"build", "--progress=quiet", "--build-context", base, "--platform", "linux/amd64",
				"-t", fmt.Sprintf("%s/%s/small-%s:%d", env.Registry, ns, tool, round), "--output", "type=registry,registry.insecure=true", "."}
		}},
		{"two platforms", 16, func(tool string, round int) []string {
			return []string{"build", "--progress=quiet", "--build-context", base, "--platform", "linux/amd64,linux/arm64",
				"-t", fmt.Sprintf("%s/%s/two-%s:%d", env.Registry, ns, tool, round), "--output", "type=registry,registry.insecure=true", "."}
		}},
		{"100 MB context", 100 << 20, func(string, int) []string {
			return []string{"build", "--progress=quiet", "--build-context", base, "--output", "type=cacheonly", "."}
		}},
	}
	rounds := max(b.N, 5)
	for _, c := range cases {
		data := make([]byte, c.size)
		times := map[string][]time.Duration{}
		for round := range rounds + 1 { // round 0 warms both up
			for i, tool := range []string{"bkctl", "buildx"} {
				if round%2 == 1 {
					tool = []string{"buildx", "bkctl"}[i]
				}
				_, _ = rand.Read(data)
				if err := os.WriteFile(filepath.Join(dir, "data"), data, 0o644); err != nil {
					b.Fatal(err)
				}
				args := c.args(tool, round)
				if tool == "bkctl" {
					args[0] = "run"
				}
				d := s.time(b, dir, tool, args...)
				if round > 0 {
					times[tool] = append(times[tool], d)
				}
			}
		}
		bk, bx := median(times["bkctl"]), median(times["buildx"])
		key := strings.ReplaceAll(c.name, " ", "-")
		b.ReportMetric(bk.Seconds(), key+"-bkctl-s")
		b.ReportMetric(bx.Seconds(), key+"-buildx-s")
		b.Logf("%-15s bkctl run median %.3fs %v | buildx build median %.3fs %v | ratio %.2f (goal ≤ 1.0)",
			c.name, bk.Seconds(), rounded(times["bkctl"]), bx.Seconds(), rounded(times["buildx"]), bk.Seconds()/bx.Seconds())
	}
}

// BenchmarkBakeVsBuildx times `bkctl bake` of 8 targets (half linux/amd64, half linux/arm64,
// fresh content each round) on a builder of 2 nodes × 2 replicas against the real `buildx bake`
// of the same file with the instance `bkctl buildx write` makes, in two shapes: independent
// targets (each copies its own file), and targets that share a prefix (the same COPY before
// their own RUN), which buildx builds once per node on its one pod while bkctl's spread builds it
// on each pod. Every pod shares this machine's cores, so spreading cannot buy CPU here; to model
// N real nodes it also times each target alone and prints the makespan that bkctl's spread would
// give if each pod had its own machine (the busiest pod's sum of its targets' times) against one
// pod per node (buildx).
func BenchmarkBakeVsBuildx(b *testing.B) {
	lazy.Require(b)
	ns, err := env.CreateNamespace(context.Background(), "bench-bake")
	if err != nil {
		b.Fatal(err)
	}
	defer env.DeleteNamespace(context.Background(), ns)
	yaml := strings.Replace(builderYAML(ns, "sticky", 2), "nodeSelector: {kubernetes.io/arch: arm64}", "nodeSelector: {kubernetes.io/arch: arm64}\n        replicas: 2", 1)
	s := newSideBySide(b, yaml)
	dir := b.TempDir()
	var hcl strings.Builder
	fmt.Fprintf(&hcl, "variable \"DF\" {}\ngroup \"default\" {\n  targets = [\"t\"]\n}\ntarget \"t\" {\n  name = \"t${i}\"\n  matrix = { i = [\"0\",\"1\",\"2\",\"3\",\"4\",\"5\",\"6\",\"7\"] }\n")
	fmt.Fprintf(&hcl, "  dockerfile = DF\n  args = { T = \"t${i}\" }\n  contexts = { base = \"oci-layout://%s@%s\" }\n", env.BaseLayout, env.BaseDigest)
	fmt.Fprintf(&hcl, "  platforms = [parseint(i, 10) %% 2 == 0 ? \"linux/amd64\" : \"linux/arm64\"]\n  output = [\"type=cacheonly\"]\n}\n")
	const run = "RUN i=0; while [ $i -lt 3000 ]; do i=$((i+1)); done; echo $T > /t\n"
	files := map[string]string{
		"docker-bake.hcl":        hcl.String(),
		"independent.Dockerfile": "FROM base\nARG T\nCOPY $T /data\n" + run,
		"shared.Dockerfile":      "FROM base\nCOPY data /data\nARG T\n" + run,
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	fresh := func() {
		for _, name := range []string{"data", "t0", "t1", "t2", "t3", "t4", "t5", "t6", "t7"} {
			data := make([]byte, 1<<20)
			_, _ = rand.Read(data)
			if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
				b.Fatal(err)
			}
		}
	}
	for _, shape := range []string{"independent", "shared"} {
		b.Setenv("DF", shape+".Dockerfile")
		// bkctl, bkctl --no-spread (buildx's placement) and buildx, in an order that rotates
		variants := []string{"bkctl", "bkctl --no-spread", "buildx"}
		times := map[string][]time.Duration{}
		for round := range max(b.N, 5) + 1 {
			for i := range variants {
				v := variants[(i+round)%len(variants)]
				tool, extra, _ := strings.Cut(v, " ")
				args := []string{"bake", "--progress=quiet", "--allow", "fs.read=" + env.BaseLayout}
				if extra != "" {
					args = append(args, extra)
				}
				fresh()
				d := s.time(b, dir, tool, args...)
				if round > 0 {
					times[v] = append(times[v], d)
				}
			}
		}
		bx := median(times["buildx"])
		b.ReportMetric(bx.Seconds(), "bake-"+shape+"-buildx-s")
		for _, v := range variants[:2] {
			bk := median(times[v])
			b.ReportMetric(bk.Seconds(), "bake-"+shape+"-"+strings.ReplaceAll(v, " --", "-")+"-s")
			b.Logf("8 %s targets on 2 nodes × 2 replicas: %s bake median %.3fs %v | buildx bake median %.3fs %v | ratio %.2f (goal ≤ 1.0)",
				shape, v, bk.Seconds(), rounded(times[v]), bx.Seconds(), rounded(times["buildx"]), bk.Seconds()/bx.Seconds())
		}
	}

	// the model: each target alone, then the makespans of the two placements
	fresh()
	solo := map[string]time.Duration{}
	var total time.Duration
	for i := range 8 {
		tg := fmt.Sprintf("t%d", i)
		solo[tg] = s.time(b, dir, "bkctl", "bake", "--progress=quiet", "--allow", "fs.read="+env.BaseLayout, tg)
		total += solo[tg]
	}
	perNode := map[string][]string{"amd": {"t0", "t2", "t4", "t6"}, "arm": {"t1", "t3", "t5", "t7"}}
	var bkSpan, bxSpan time.Duration
	for node, tgs := range perNode {
		var nodeSum time.Duration
		pods := []string{node + "-0", node + "-1"}
		load := map[string]time.Duration{}
		for tg, pod := range buildrun.Spread(tgs, pods) {
			load[pod] += solo[tg]
		}
		for _, tg := range tgs {
			nodeSum += solo[tg]
		}
		bxSpan = max(bxSpan, nodeSum)
		for _, l := range load {
			bkSpan = max(bkSpan, l)
		}
	}
	b.Logf("model, a machine per pod: targets alone %v (sum %.3fs); buildx (one pod per node) makespan %.3fs, bkctl spread makespan %.3fs: speed-up %.2f×",
		rounded(slices.Collect(maps.Values(solo))), total.Seconds(), bxSpan.Seconds(), bkSpan.Seconds(), bxSpan.Seconds()/bkSpan.Seconds())
}
