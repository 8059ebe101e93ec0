package main

import (
	"path/filepath"
	"strings"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
)

// The roles and service accounts of deploy/rbac.yaml.
const (
	applyRole      = "bkctl-apply"
	namespacesRole = "bkctl-apply-namespaces"
	runRole        = "bkctl-run"
	applySA        = "bkctl-apply"
	runSA          = "bkctl-run"
)

// TestRBACApplyRole runs plan, apply (create, update, prune with --prune-pvcs) and delete as a
// service account bound to nothing but the Role bkctl-apply of deploy/rbac.yaml: a file
// without createNamespace needs no cluster-wide right.
func TestRBACApplyRole(t *testing.T) {
	lazy.Require(t)
	ns := env.Namespace(t)
	roles := loadRBAC(t, ns)
	kc := roles.grant(t, applySA, []string{applyRole}, nil)
	steps := applyScenario(t, ns, false)
	if i, code, out, errs := runSteps(t, kc, steps, 0); i >= 0 {
		t.Fatalf("%s as %s = %d\nstdout:\n%s\nstderr:\n%s", steps[i].name, applySA, code, out, errs)
	}
}

// runScenario returns the steps that exercise every right of run, ls and status: a build of
// examples/hello exported to a directory, then ls and status, whose every pod must answer.
func runScenario(t *testing.T, file string) []rbacStep {
	out := filepath.Join(t.TempDir(), "out")
	daemonsAnswer := func(t *testing.T, stdout string) {
		t.Helper()
		bs := decodeBuilders(t, stdout)
		if len(bs) != 1 || len(bs[0].Nodes) != 1 || len(bs[0].Nodes[0].Pods) == 0 {
			t.Fatalf("want one builder with one node and its pods:\n%s", stdout)
		}
		for _, p := range bs[0].Nodes[0].Pods {
			if p.Error != "" || p.Daemon == nil || p.Daemon.BuildkitVersion == "" {
				t.Errorf("pod %s: error %q, daemon %+v", p.Name, p.Error, p.Daemon)
			}
		}
	}
	return []rbacStep{
		{name: "run", args: []string{"run", "examples/hello", "--builders-file", file, "--progress", "quiet",
			"--build-context", "base=oci-layout://" + env.BaseLayout + "@" + env.BaseDigest, "-o", "type=local,dest=" + out},
			check: func(t *testing.T, _ string) {
				if got := readFile(t, filepath.Join(out, "greeting.txt")); !strings.HasPrefix(got, "hello from bkctl\nbuilt on ") {
					t.Errorf("greeting.txt = %q", got)
				}
			}},
		{name: "ls", args: []string{"ls", "-f", file, "-o", "json"}, check: daemonsAnswer},
		{name: "status", args: []string{"status", "-f", file, "-o", "json"}, check: daemonsAnswer},
	}
}

// TestRBACRunRole builds, lists and shows a builder as a service account bound to the Role
// bkctl-run, and checks that neither role lends the other's rights: the run account cannot
// apply, the apply account cannot exec.
func TestRBACRunRole(t *testing.T) {
	lazy.Require(t)
	ns := env.Namespace(t)
	file := writeBuilders(t, ns, cliNode)
	applyFile(t, file)
	roles := loadRBAC(t, ns)
	runKC := roles.grant(t, runSA, []string{runRole}, nil)
	applyKC := roles.grant(t, applySA, []string{applyRole}, nil)

	steps := runScenario(t, file)
	if i, code, out, errs := runSteps(t, runKC, steps, 0); i >= 0 {
		t.Fatalf("%s as %s = %d\nstdout:\n%s\nstderr:\n%s", steps[i].name, runSA, code, out, errs)
	}
	if code, out, errs := runCluster(t, "ls", "-n", ns, "--kubeconfig", runKC); code != 0 || !strings.Contains(out, "running") {
		t.Errorf("ls -n %s as %s = %d\nstdout:\n%s\nstderr:\n%s", ns, runSA, code, out, errs)
	}

	code, out, errs := runCluster(t, "apply", "-f", file, "--kubeconfig", runKC)
	if want := roles.forbidden(runSA, access{"", "configmaps", "get"}); code != 1 || !strings.Contains(errs, want) {
		t.Errorf("apply as %s = %d, want 1 with %s\nstdout:\n%s\nstderr:\n%s", runSA, code, want, out, errs)
	}
	code, out, errs = runCluster(t, append(steps[0].args, "--kubeconfig", applyKC)...)
	if want := roles.forbidden(applySA, access{"", "pods/exec", "create"}); code != 1 || !strings.Contains(errs, want) {
		t.Errorf("run as %s = %d, want 1 with %s\nstdout:\n%s\nstderr:\n%s", applySA, code, want, out, errs)
	}
}

// TestRBACEachVerbIsNeeded proves deploy/rbac.yaml minimal: for every verb on every resource
// of its roles, a service account with all of it but that one verb runs the commands the role
// is for, and one of them must fail with exit 1 naming the verb and resource. For plan, apply
// and delete, the scenario then goes on with the full role from the step that failed, and must
// complete: what the failed step left is still in the inventory (a member whose prune was
// refused is pruned by the next apply), so nothing stays half-applied.
func TestRBACEachVerbIsNeeded(t *testing.T) {
	lazy.Require(t)
	all := loadRBAC(t, "probe")
	for _, role := range []string{applyRole, namespacesRole, runRole} {
		for _, a := range accesses(all.rules(t, role)) {
			t.Run(role+"/"+a.verb+" "+a.resource, func(t *testing.T) {
				if role == runRole {
					runWithout(t, a)
				} else {
					applyWithout(t, role, a)
				}
			})
		}
	}
}

// applyWithout runs the apply scenario, with createNamespace so that the namespaces role is
// needed too, as bkctl-apply without a, then with the full roles from the step that failed.
func applyWithout(t *testing.T, role string, a access) {
	ns := env.Namespace(t)
	roles := loadRBAC(t, ns)
	full := roles.rules(t, role)
	less := without(full, a)
	kc := roles.grant(t, applySA, []string{applyRole, namespacesRole}, map[string][]rbacv1.PolicyRule{role: less})
	roles.waitEnforced(t, applySA, role, less, a)
	steps := applyScenario(t, ns, true)

	i, code, out, errs := runSteps(t, kc, steps, 0)
	if i < 0 {
		t.Fatalf("every step succeeded without %s: %s does not need it", a, role)
	}
	t.Logf("%s without %s: %s", steps[i].name, a, lastLine(errs))
	if want := roles.forbidden(applySA, a); code != 1 || !strings.Contains(errs, want) || !strings.Contains(errs, "deploy/rbac.yaml") {
		t.Fatalf("%s without %s = %d, want 1 with %q and a hint to %s\nstdout:\n%s\nstderr:\n%s", steps[i].name, a, code, want, rbacExample, out, errs)
	}
	roles.setRules(t, applySA, role, full)
	if j, code, out, errs := runSteps(t, kc, steps, i); j >= 0 {
		t.Fatalf("%s with the full role, after %s failed without %s = %d\nstdout:\n%s\nstderr:\n%s", steps[j].name, steps[i].name, a, code, out, errs)
	}
}

// runWithout runs build, ls and status as bkctl-run without a. They write nothing, so there is
// nothing to complete afterwards.
func runWithout(t *testing.T, a access) {
	ns := env.Namespace(t)
	file := writeBuilders(t, ns, cliNode)
	applyFile(t, file)
	roles := loadRBAC(t, ns)
	less := without(roles.rules(t, runRole), a)
	kc := roles.grant(t, runSA, []string{runRole}, map[string][]rbacv1.PolicyRule{runRole: less})
	roles.waitEnforced(t, runSA, runRole, less, a)
	steps := runScenario(t, file)

	i, code, out, errs := runSteps(t, kc, steps, 0)
	if i < 0 {
		t.Fatalf("run, ls and status succeeded without %s: %s does not need it", a, runRole)
	}
	t.Logf("%s without %s: %s", steps[i].name, a, lastLine(errs))
	if want := roles.forbidden(runSA, a); code != 1 || !strings.Contains(errs, want) || !strings.Contains(errs, "deploy/rbac.yaml") {
		t.Errorf("%s without %s = %d, want 1 with %q and a hint to %s\nstdout:\n%s\nstderr:\n%s", steps[i].name, a, code, want, rbacExample, out, errs)
	}
}
