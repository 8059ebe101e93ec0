package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const bakeHCL = `variable "BASE" {}
variable "SUFFIX" { default = "" }
group "default" { targets = ["one", "m"] }
target "common" {
  context  = "."
  contexts = { base = BASE }
  output   = ["type=cacheonly"]
}
target "one" {
  inherits = ["common"]
  args     = { T = "one${SUFFIX}" }
}
target "m" {
  inherits = ["common"]
  name     = "m-${v}"
  matrix   = { v = ["a", "b", "c"] }
  args     = { T = "m-${v}${SUFFIX}" }
}
`

// bake resolves a file with a variable, a group, inherits and a matrix as buildx does (--print),
// --var sets a variable and --set overrides a value of every target.
func TestBakePrint(t *testing.T) {
	lazy.BakeOnPath(t)
	dir := t.TempDir()
	writeFile(t, dir, "docker-bake.hcl", bakeHCL)
	t.Setenv("BASE", "oci-layout:///base@sha256:0")
	code, out, errs := runCLI(t, "", "bake", "-f", filepath.Join(dir, "docker-bake.hcl"), "--print",
		"--set", "*.platform=linux/arm64", "--var", "SUFFIX=-x")
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
		if tg.Context != "." || tg.Contexts["base"] != "oci-layout:///base@sha256:0" || tg.Args["T"] != n+"-x" || !slices.Equal(tg.Platforms, []string{"linux/arm64"}) {
			t.Errorf("target %s = %+v, want inherited context and contexts, T=%s-x and the --set platform", n, tg, n)
		}
	}
	slices.Sort(names)
	if d := cmp.Diff([]string{"m-a", "m-b", "m-c", "one"}, names); d != "" {
		t.Errorf("targets (-want +got)\n%s", d)
	}
	if d := cmp.Diff([]string{"m", "one"}, slices.Sorted(slices.Values(def.Group["default"].Targets))); d != "" {
		t.Errorf("group default (-want +got)\n%s", d)
	}
}

// Bad bake input fails before any cluster is contacted (the builders file does not even exist),
// with exit 1 and an error that says what to do.
func TestBakeRefusesBadInput(t *testing.T) {
	lazy.BakeOnPath(t)
	dir := t.TempDir()
	file := writeFile(t, dir, "docker-bake.hcl", `target "default" {
  entitlements = ["network.host"]
}
target "linked" {
  contexts = { base = "target:default" }
}
`)
	outside := t.TempDir()
	if err := os.Symlink(outside, filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	writeFile(t, dir, "more.hcl", `target "outside" {
  context = "`+outside+`"
  output  = ["type=local,dest=`+outside+`/out"]
}
target "linked-out" {
  context = "link"
  dockerfile-inline = "FROM scratch"
}
`)
	t.Chdir(dir)
	broken := writeFile(t, dir, "broken.hcl", "target \"default\" {\n  args = { A = undefined_fn() }\n}\n")
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"unknown target", []string{"nope"}, "Error: bake file: failed to find target nope"},
		{"bad function", []string{"-f", broken, "default"}, "Error: bake file: " + broken + ":2,16-28: Call to unknown function"},
		{"entitlement not granted", []string{"default"}, "Error: the targets ask for privileges not granted: network.host (hint: pass --allow network.host; BUILDX_BAKE_ENTITLEMENTS_FS=0 turns the file system checks off)"},
		{"path outside", []string{"outside", "--allow", "network.host"}, "Error: the targets ask for privileges not granted: fs.read=" + outside + ", fs.write=" + outside + "/out (hint: pass --allow fs.read=" + outside + " --allow fs.write=" + outside + "/out;"},
		{"link outside", []string{"linked-out", "--allow", "network.host"}, "Error: the targets ask for privileges not granted: fs.read=" + outside + " "},
		{"fs granted", []string{"outside", "--allow", "network.host", "--allow", "fs=" + outside}, "missing.yaml"},
		{"fs any", []string{"outside", "--allow", "network.host", "--allow", "fs.read=*", "--allow", "fs.write=*"}, "missing.yaml"},
		{"linked target", []string{"linked", "--allow", "network.host"}, "another target as a context (target:default) is not supported"},
		{"load", []string{"--load"}, "Error: --load:"},
		{"jobs", []string{"--jobs", "defer-everything"}, `Error: --jobs: unknown mode "defer-everything"`},
		{"jobs parallel", []string{"-j", "parallel=-1"}, `Error: --jobs: parallel "-1"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"bake", "-f", file, "-f", filepath.Join(dir, "more.hcl"), "--builders-file", filepath.Join(dir, "missing.yaml")}, tc.args...)
			code, _, errs := runCLI(t, "", args...)
			if code != 1 || !strings.Contains(errs, tc.want) {
				t.Errorf("bake %v = %d, want 1 and %q\nstderr:\n%s", tc.args, code, tc.want, errs)
			}
		})
	}
	t.Run("no bkctl-bake", func(t *testing.T) {
		t.Setenv("PATH", t.TempDir())
		code, _, errs := runCLI(t, "", "bake", "-f", file)
		if want := "Error: bkctl bake reads bake files with the bkctl-bake program, which is neither next to bkctl nor on PATH (hint:"; code != 1 || !strings.HasPrefix(errs, want) {
			t.Errorf("bake without bkctl-bake = %d, want 1 and %q\nstderr:\n%s", code, want, errs)
		}
	})
}

// bkctl itself links nothing of buildx's bake package or what it brings (compose-go, HCL, Open
// Policy Agent): bkctl-bake does, so that no other command pays their init code on start.
func TestBkctlLinksNoBakePackage(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}", "github.com/bkctl/bkctl").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, p := range strings.Fields(string(out)) {
		for _, bad := range []string{"github.com/docker/buildx", "github.com/compose-spec/", "github.com/hashicorp/hcl", "github.com/open-policy-agent/"} {
			if strings.HasPrefix(p, bad) {
				t.Errorf("bkctl links %s (hint: bake file code belongs in cmd/bkctl-bake)", p)
			}
		}
	}
	out, err = exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}", "github.com/bkctl/bkctl/cmd/bkctl-bake").Output()
	if err != nil || !strings.Contains(string(out), "github.com/docker/buildx/bake\n") {
		t.Errorf("bkctl-bake does not link buildx's bake package (err %v)", err)
	}
}
