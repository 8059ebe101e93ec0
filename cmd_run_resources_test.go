package main

import (
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// limitsDockerfile has a RUN that writes the limits of its own cgroups, as it sees them in the
// cgroup v1 hierarchies that runc mounts at /sys/fs/cgroup (one per controller on this host),
// and the CPUs and memory nodes the kernel lets it use. Then it grows a string in awk to about
// 128 MiB and writes awk's exit status: 137 when the kernel's OOM killer ended it.
const limitsDockerfile = "FROM base\nRUN for f in memory.limit_in_bytes memory.memsw.limit_in_bytes cpu.shares " +
	"cpu.cfs_period_us cpu.cfs_quota_us cpuset.cpus cpuset.mems; do echo $f=$(cat /sys/fs/cgroup/*/$f); done > /limits && " +
	"grep -E '^(Cpus|Mems)_allowed_list' /proc/self/status | tr -d '\\t' | tr : = >> /limits && " +
	"(awk 'BEGIN { s = \"x\"; while (length(s) < 134217728) s = s s }'; echo hog=$? >> /limits)\n"

// parseLimits reads the key=value lines of /limits.
func parseLimits(t *testing.T, s string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(s), "\n") {
		k, v, ok := strings.Cut(line, "=")
		if !ok || v == "" {
			t.Fatalf("RUN wrote %q in /limits:\n%s", line, s)
		}
		out[k] = v
	}
	return out
}

// with returns the defaults with some keys changed.
func with(defaults map[string]string, kv ...string) map[string]string {
	out := maps.Clone(defaults)
	for i := 0; i < len(kv); i += 2 {
		out[kv[i]] = kv[i+1]
	}
	return out
}

// --resource and the older per-key flags set the cgroup limits of RUN: the RUN reads them from
// its cgroups, and the memory limit is enforced (the OOM killer ends a process that grows past
// it, which runs to the end without a limit). A key in both --resource and an older flag takes
// the --resource value; --memory-swap -1 and --cpu-quota -1 are "no limit" as in buildx.
//
// cpuset-mems=0 cannot be told from the default here: the host has one memory node. That the
// value reaches runc shows cpuset-mems=1, a node the host lacks, which runc fails to write.
// The limits are not part of the cache key, as buildx documents: a cached RUN is not rerun when
// only they change.
func TestRunResources(t *testing.T) {
	lazy.Require(t)
	ns := env.Namespace(t)
	file := writeBuilders(t, ns, cliNode)
	applyFile(t, file)
	dir := t.TempDir()
	writeFile(t, dir, "Dockerfile", limitsDockerfile)
	build := func(more ...string) map[string]string {
		t.Helper()
		code, out, errs := runCluster(t, runArgs(file, dir, append([]string{"--progress=quiet", "--output=-"}, more...)...)...)
		if code != 0 {
			t.Fatalf("run %v = %d\n%s", more, code, errs)
		}
		return parseLimits(t, tarFile(t, out, "limits"))
	}
	def := build("--no-cache")
	t.Logf("RUN's defaults: %v", def)
	if def["hog"] != "0" {
		t.Fatalf("awk without a memory limit exited %s, want 0: the test cannot tell the OOM killer from another failure", def["hog"])
	}
	unlimited := def["memory.limit_in_bytes"]
	for _, tc := range []struct {
		flags []string
		want  map[string]string
	}{
		{[]string{"--resource", "memory=32m", "--resource", "memory-swap=32m", "--resource", "cpu-shares=512",
			"--resource", "cpu-period=50000", "--resource", "cpu-quota=25000", "--resource", "cpuset-cpus=1",
			"--resource", "cpuset-mems=0"},
			with(def, "memory.limit_in_bytes", "33554432", "memory.memsw.limit_in_bytes", "33554432",
				"cpu.shares", "512", "cpu.cfs_period_us", "50000", "cpu.cfs_quota_us", "25000",
				"cpuset.cpus", "1", "Cpus_allowed_list", "1", "hog", "137")},
		{[]string{"-m", "64m", "--memory-swap", "-1", "-c", "256", "--cpu-period", "20000", "--cpu-quota", "10000",
			"--cpuset-cpus", "0", "--cpuset-mems", "0", "--resource", "memory=48m"},
			with(def, "memory.limit_in_bytes", "50331648", "memory.memsw.limit_in_bytes", unlimited,
				"cpu.shares", "256", "cpu.cfs_period_us", "20000", "cpu.cfs_quota_us", "10000",
				"cpuset.cpus", "0", "Cpus_allowed_list", "0", "hog", "137")},
		{[]string{"--memory=64m", "--memory-swap=96m", "--cpu-quota", "-1", "--resource", "cpu-shares=0"},
			with(def, "memory.limit_in_bytes", "67108864", "memory.memsw.limit_in_bytes", "100663296", "hog", "137")},
	} {
		if cmp.Equal(tc.want, def) {
			t.Fatalf("case %v expects the defaults: it would prove nothing", tc.flags)
		}
		got := build(append([]string{"--no-cache"}, tc.flags...)...)
		if d := cmp.Diff(tc.want, got); d != "" {
			t.Errorf("RUN with %v (-want +got)\n%s", tc.flags, d)
		}
	}

	code, _, errs := runCluster(t, runArgs(file, dir, "--progress=plain", "--output=-", "--no-cache", "--resource", "cpuset-mems=1")...)
	if code != 1 || !strings.Contains(errs, "cpuset.mems: invalid argument") {
		t.Errorf("run --resource cpuset-mems=1 = %d, want 1 and runc's failure to write cpuset.mems\n%s", code, errs)
	}
	for _, bad := range [][]string{
		{"--resource", "memory-swap=64m"},
		{"--resource", "memory=64m", "--memory-swap", "32m"},
		{"--resource", "cpu-period=100"},
		{"--cpu-quota", "100"},
	} {
		code, _, errs := runCluster(t, runArgs(file, dir, append([]string{"--progress=plain", "--output=-"}, bad...)...)...)
		ours := strings.Contains(errs, "Error: --resource") || strings.Contains(errs, "Error: --cpu-quota")
		if code != 1 || !ours || strings.Contains(errs, "runc") {
			t.Errorf("run %v = %d, want 1 and bkctl's error before any build (runc refuses it too)\n%s", bad, code, errs)
		}
	}

	// without --no-cache the RUN comes from the cache of the builds above, whatever the limits
	if got := build("--resource", "memory=40m"); got["memory.limit_in_bytes"] == "41943040" {
		t.Errorf("RUN with only the limits changed ran again, want it cached: %v", got)
	}
}

// bkctl run sends the frontend attributes that buildx build sends for the same flags, as the
// daemon's build history records them.
func TestRunResourcesMatchBuildx(t *testing.T) {
	lazy.Require(t)
	ns := env.Namespace(t)
	file := writeBuilders(t, ns, cliNode)
	applyFile(t, file)
	bx := t.TempDir()
	if code, out, errs := runCLI(t, "", "buildx", "write", "-f", file, "--buildx-config", bx, "--kubeconfig", env.Kubeconfig); code != 0 {
		t.Fatalf("buildx write = %d\nstdout:\n%s\nstderr:\n%s", code, out, errs)
	}
	dir := t.TempDir()
	writeFile(t, dir, "Dockerfile", "FROM base\nRUN true\n")
	keys := []string{"memory", "memswap", "cpushares", "cpuperiod", "cpuquota", "cpusetcpus", "cpusetmems"}
	for _, flags := range [][]string{
		{"-m", "64m", "--memory-swap", "-1", "-c", "256", "--cpu-period", "20000", "--cpu-quota", "10000",
			"--cpuset-cpus", "0", "--cpuset-mems", "0", "--resource", "memory=48m"},
		{"--resource", "memory=1g", "--resource", "memory-swap=1536m", "--resource", "cpu-quota=-1", "--resource", "cpuset-cpus=0-1"},
	} {
		common := append([]string{"--progress", "quiet", "--no-cache", "--output", "type=cacheonly",
			"--build-context", "base=oci-layout://" + env.BaseLayout + "@" + env.BaseDigest}, flags...)
		bxMeta, bkMeta := filepath.Join(t.TempDir(), "bx.json"), filepath.Join(t.TempDir(), "bk.json")
		if out, err := tryBuildx(t, bx, append(append([]string{"--builder", "kube", "build", "--metadata-file", bxMeta}, common...), dir)...); err != nil {
			t.Fatalf("buildx build %v: %v\n%s", flags, err, out)
		}
		mustRun(t, append([]string{"run", dir, "--builders-file", file, "--kubeconfig=" + env.Kubeconfig, "--metadata-file", bkMeta}, common...)...)
		pick := func(attrs map[string]string) map[string]string {
			out := map[string]string{}
			for _, k := range keys {
				if v, ok := attrs[k]; ok {
					out[k] = v
				}
			}
			return out
		}
		want, got := pick(historyAttrs(t, ns, buildRef(t, bxMeta))), pick(historyAttrs(t, ns, buildRef(t, bkMeta)))
		if len(want) == 0 {
			t.Fatalf("buildx build %v sent no resource attributes: nothing to compare", flags)
		}
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("frontend attributes of %v: buildx (-) vs bkctl (+)\n%s", flags, d)
		}
		t.Logf("%v → %v", flags, got)
	}
}

// A bake target's resources become the same limits of its RUN, and --set overrides one key.
func TestBakeResources(t *testing.T) {
	hcl := `variable "BASE" {}
target "default" {
  contexts = { base = BASE }
  output   = ["type=local,dest=out"]
  no-cache = true
  resources = {
    memory      = "32m"
    memory-swap = "32m"
    cpu-shares  = 512
    cpu-period  = 50000
    cpu-quota   = 25000
    cpuset-cpus = "1"
  }
}
`
	_, builders, dir := bakeSetup(t, hcl, limitsDockerfile)
	read := func(more ...string) map[string]string {
		t.Helper()
		if code, _, errs := runCluster(t, bakeArgs(builders, append([]string{"--progress=plain"}, more...)...)...); code != 0 {
			t.Fatalf("bake %v = %d\n%s", more, code, errs)
		}
		b, err := os.ReadFile(filepath.Join(dir, "out", "limits"))
		if err != nil {
			t.Fatal(err)
		}
		return parseLimits(t, string(b))
	}
	got := read()
	want := map[string]string{"memory.limit_in_bytes": "33554432", "memory.memsw.limit_in_bytes": "33554432",
		"cpu.shares": "512", "cpu.cfs_period_us": "50000", "cpu.cfs_quota_us": "25000", "cpuset.cpus": "1",
		"Cpus_allowed_list": "1", "hog": "137"}
	got2 := read("--set", "default.resources.cpu-shares=300", "--set", "default.resources.memory=48m",
		"--set", "default.resources.memory-swap=-1")
	for k, v := range want {
		if got[k] != v {
			t.Errorf("bake resources: %s = %s, want %s", k, got[k], v)
		}
	}
	want2 := with(want, "cpu.shares", "300", "memory.limit_in_bytes", "50331648")
	delete(want2, "memory.memsw.limit_in_bytes") // unlimited: as without a limit
	for k, v := range want2 {
		if got2[k] != v {
			t.Errorf("bake --set resources: %s = %s, want %s", k, got2[k], v)
		}
	}
	if got2["memory.memsw.limit_in_bytes"] == want["memory.memsw.limit_in_bytes"] {
		t.Errorf("bake --set default.resources.memory-swap=-1: memsw limit still %s", got2["memory.memsw.limit_in_bytes"])
	}
	code, _, errs := runCluster(t, bakeArgs(builders, "--set", "default.resources.memory=lots")...)
	if code != 1 || !strings.Contains(errs, `memory=lots`) {
		t.Errorf("bake with resources.memory=lots = %d, want 1 naming the value\n%s", code, errs)
	}
}
