package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	controlapi "github.com/moby/buildkit/api/services/control"
	bkclient "github.com/moby/buildkit/client"
)

const bakeHCL = `variable "BASE" {}
group "default" { targets = ["one", "m"] }
target "common" {
  context  = "."
  contexts = { base = BASE }
  output   = ["type=cacheonly"]
}
target "one" {
  inherits = ["common"]
  args     = { T = "one" }
}
target "m" {
  inherits = ["common"]
  name     = "m-${v}"
  matrix   = { v = ["a", "b", "c"] }
  args     = { T = "m-${v}" }
}
`

// bake resolves a file with a variable, a group, inherits and a matrix as buildx does (--print),
// and --set overrides a value of every target.
func TestBakePrint(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "docker-bake.hcl", bakeHCL)
	t.Setenv("BASE", "oci-layout:///base@sha256:0")
	code, out, errs := runCLI(t, "", "bake", "-f", filepath.Join(dir, "docker-bake.hcl"), "--print", "--set", "*.platform=linux/arm64")
	if code != 0 {
		t.Fatalf("bake --print = %d\n%s", code, errs)
	}
	var def struct {
		Group  map[string]struct{ Targets []string }
		Target map[string]struct {
			Context   string
			Contexts  map[string]string
			Args      map[string]string
			Platforms []string
		}
	}
	if err := json.Unmarshal([]byte(out), &def); err != nil {
		t.Fatalf("--print is not JSON: %v\n%s", err, out)
	}
	var names []string
	for n, tg := range def.Target {
		names = append(names, n)
		if tg.Context != "." || tg.Contexts["base"] != "oci-layout:///base@sha256:0" || tg.Args["T"] != n || !slices.Equal(tg.Platforms, []string{"linux/arm64"}) {
			t.Errorf("target %s = %+v, want inherited context and contexts, T=%s and the --set platform", n, tg, n)
		}
	}
	slices.Sort(names)
	if d := cmp.Diff([]string{"m-a", "m-b", "m-c", "one"}, names); d != "" {
		t.Errorf("targets (-want +got)\n%s", d)
	}
}

// bake spreads the targets over the node's pods, each pod getting its share, and builds each
// target on the same pod again when run again (the daemons' build history shows it).
func TestBakeSpreadsTargetsStickily(t *testing.T) {
	ns := env.Namespace(t)
	file := writeBuilders(t, ns, "      - name: amd\n        nodeSelector: {kubernetes.io/arch: amd64}\n        replicas: 2\n        timeout: 30s\n")
	applyFile(t, file)
	dir := t.TempDir()
	writeFile(t, dir, "Dockerfile", "FROM base\nARG T\nRUN echo $T > /t\n")
	writeFile(t, dir, "docker-bake.hcl", bakeHCL)
	t.Setenv("BASE", "oci-layout://"+env.BaseLayout+"@"+env.BaseDigest)
	args := []string{"bake", "-f", filepath.Join(dir, "docker-bake.hcl"), "--builders-file", file,
		"--kubeconfig=" + env.Kubeconfig, "--progress=plain", "--max-parallelism", "2"}
	t.Chdir(dir)

	var first map[string][]string
	for run := range 2 {
		code, _, errs := runCluster(t, args...)
		if code != 0 {
			t.Fatalf("bake (run %d) = %d\n%s", run+1, code, errs)
		}
		byPod := map[string][]string{} // pod → targets in its history
		pods := podNames(t, ns, "amd")
		for _, pod := range pods {
			byPod[pod] = historyArg(t, ns, pod, "T")
		}
		t.Logf("run %d: targets by pod %v", run+1, byPod)
		all := map[string]int{}
		for pod, ts := range byPod {
			if len(ts) == 0 {
				t.Errorf("run %d: pod %s built no target", run+1, pod)
			}
			for _, tg := range slices.Compact(slices.Sorted(slices.Values(ts))) {
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
			if got, want := slices.Compact(slices.Sorted(slices.Values(ts))), slices.Compact(slices.Sorted(slices.Values(first[pod]))); !slices.Equal(got, want) {
				t.Errorf("rerun: pod %s built %v, first run %v", pod, got, want)
			}
		}
	}
}

// historyArg returns the values of build arg name in the build history of the pod's buildkitd.
func historyArg(t *testing.T, ns, pod, name string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	addr, err := env.PodDaemon(ctx, ns, pod)
	if err != nil {
		t.Fatal(err)
	}
	c, err := bkclient.New(ctx, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	stream, err := c.ControlClient().ListenBuildHistory(ctx, &controlapi.BuildHistoryRequest{EarlyExit: true})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for {
		ev, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		if ev.Record != nil {
			if v, ok := ev.Record.FrontendAttrs["build-arg:"+name]; ok && !strings.HasPrefix(v, "$") {
				out = append(out, v)
			}
		}
	}
}
