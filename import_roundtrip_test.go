package main

import (
	"bytes"
	"context"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// TestImportApplyPlanInSync is the round trip of issue #6: bkctl imports what the real docker
// buildx created, apply adopts buildx's objects (the same ones: same UIDs), the next plan is in
// sync, and buildx still builds on them.
func TestImportApplyPlanInSync(t *testing.T) {
	lazy.Require(t)
	ns := env.Namespace(t)
	kc := "--kubeconfig=" + env.Kubeconfig
	bx := t.TempDir()
	cfg := writeFile(t, t.TempDir(), "buildkitd.toml", "debug = true\n\n[worker.oci]\n  gc = true\n")
	runBuildx(t, bx, "create", "--name", "kube", "--driver", "kubernetes", "--node", "kube0", "--platform", "linux/amd64",
		"--buildkitd-flags", "--debug", "--buildkitd-config", cfg,
		"--driver-opt", "namespace="+ns+",replicas=2,nodeselector=kubernetes.io/arch=amd64",
		"--driver-opt", `"tolerations=key=arch,operator=Equal,value=amd64,effect=NoSchedule"`,
		"--driver-opt", "requests.cpu=100m,requests.memory=128Mi,limits.cpu=1,limits.memory=1Gi",
		"--driver-opt", `"annotations=team=platform,cost-center=ci",serviceaccount=default,schedulername=default-scheduler`,
		"--driver-opt", "loadbalance=random,timeout=90s,env.BUILDKIT_STEP_LOG_MAX_SIZE=10485760",
		"--bootstrap")
	runBuildx(t, bx, "create", "--name", "kube", "--append", "--node", "kube1", "--platform", "linux/arm64",
		"--driver-opt", "namespace="+ns+",nodeselector=kubernetes.io/arch=arm64",
		"--driver-opt", "rootless=true,qemu.install=true,buildkit-root-volume-memory=512Mi,default-load=true",
		"--bootstrap")
	created := objectUIDs(t, ns)
	if want := []string{"ConfigMap/kube0-config", "Deployment/kube0", "Deployment/kube1"}; !cmp.Equal(want, sortedKeys(created)) {
		t.Fatalf("buildx created %v, want %v", sortedKeys(created), want)
	}

	code, imported, errs := runCLI(t, "", "import", "--buildx-config", bx, "--builder", "kube", "--name", "kube-builders", "--namespace", ns)
	if code != 0 || errs != "" {
		t.Fatalf("import = %d\nstdout:\n%s\nstderr:\n%s", code, imported, errs)
	}
	if diff := cmp.Diff(strings.ReplaceAll(importedKube, "NS", ns), imported); diff != "" {
		t.Errorf("import (-want +got):\n%s", diff)
	}
	file := writeFile(t, t.TempDir(), "builders.yaml", imported)
	if code, out, errs := runCLI(t, "", "validate", "-f", file); code != 0 {
		t.Fatalf("validate = %d\nstdout:\n%s\nstderr:\n%s", code, out, errs)
	}

	// The plan shows only bkctl's deliberate differences: its labels (the selector stays
	// app=<node>) and the readiness probe; buildx's fields are drift of its manager.
	code, out, errs := runCluster(t, "plan", "-f", file, kc, "--exit-code")
	t.Logf("plan before apply:\n%s", out)
	if code != 2 {
		t.Fatalf("plan --exit-code before apply = %d, want 2\nstderr:\n%s", code, errs)
	}
	head, _, _ := strings.Cut(strings.ReplaceAll(out, ns, "NS"), "\n\n--- ")
	if diff := cmp.Diff(planBeforeAdoption, head+"\n"); diff != "" {
		t.Errorf("plan before apply (-want +got):\n%s", diff)
	}

	code, out, errs = runCluster(t, "apply", "-f", file, kc)
	if code != 0 || !strings.Contains(out, "Apply complete: 0 created, 3 updated, 0 pruned, 2 ready.") {
		t.Fatalf("apply = %d, want 0 with 3 updated\nstdout:\n%s\nstderr:\n%s", code, out, errs)
	}
	for _, ref := range []string{"ConfigMap/" + ns + "/kube0-config", "Deployment/" + ns + "/kube0", "Deployment/" + ns + "/kube1"} {
		if !strings.Contains(errs, ref+": updated\n") {
			t.Errorf("apply did not update %s\nstderr:\n%s", ref, errs)
		}
	}
	code, out, errs = runCluster(t, "plan", "-f", file, kc, "--exit-code")
	if code != 0 || !strings.Contains(out, "in sync") {
		t.Errorf("plan --exit-code after apply = %d, want 0 and in sync\nstdout:\n%s\nstderr:\n%s", code, out, errs)
	}
	code, out, _ = runCluster(t, "apply", "-f", file, kc)
	if code != 0 || !strings.Contains(out, "Apply complete: in sync, nothing changed.") {
		t.Errorf("second apply = %d, want 0 and nothing changed\n%s", code, out)
	}

	out = runBuildx(t, bx, "--builder", "kube", "inspect")
	if n, n0, n1 := strings.Count(out, "Status:                running"), strings.Count(out, "Name:                  kube0\n"), strings.Count(out, "Name:                  kube1\n"); n != 3 || n0 != 2 || n1 != 1 {
		t.Errorf("buildx inspect: %d pods running, %d of kube0, %d of kube1; want 2 of kube0 and 1 of kube1 running\n%s", n, n0, n1, out)
	}
	dir := t.TempDir()
	writeFile(t, dir, "Dockerfile", "FROM base\nCOPY hello /hello\n")
	writeFile(t, dir, "hello", "hello from "+ns+"\n")
	runBuildx(t, bx, "--builder", "kube", "build", "--progress", "plain", "--platform", "linux/amd64", "--output", "type=cacheonly",
		"--build-context", "base=oci-layout://"+env.BaseLayout+"@"+env.BaseDigest, dir)

	if diff := cmp.Diff(created, objectUIDs(t, ns)); diff != "" {
		t.Errorf("objects replaced (-buildx created +after apply and build):\n%s", diff)
	}
}

// TestImportedLabelsNeedAReplace pins the one deliberate difference that stops an in-place
// adoption: buildx puts its labels driver-opt into the workload's immutable selector, bkctl
// selects by app=<node> only. Plan marks the Deployment "± replace" naming spec.selector, apply
// refuses and touches nothing, and apply --force-replace recreates it.
func TestImportedLabelsNeedAReplace(t *testing.T) {
	lazy.Require(t)
	ns := env.Namespace(t)
	kc := "--kubeconfig=" + env.Kubeconfig
	bx := t.TempDir()
	runBuildx(t, bx, "create", "--name", "kube", "--driver", "kubernetes", "--node", "kube0",
		"--driver-opt", "namespace="+ns+",labels=team=ci", "--bootstrap")
	created := objectUIDs(t, ns)

	code, imported, errs := runCLI(t, "", "import", "--buildx-config", bx, "--namespace", ns)
	if code != 0 || !strings.Contains(imported, "labels:\n          team: ci\n") {
		t.Fatalf("import = %d\nstdout:\n%s\nstderr:\n%s", code, imported, errs)
	}
	file := writeFile(t, t.TempDir(), "builders.yaml", imported)
	code, out, errs := runCluster(t, "plan", "-f", file, kc)
	want := "± replace   Deployment/" + ns + "/kube0: spec.selector is immutable (hint: --force-replace deletes and recreates it)"
	if code != 0 || !strings.Contains(out, want) || !strings.Contains(out, "kube/kube0: replace (immutable spec.selector)") {
		t.Errorf("plan = %d, want 0 with %q\nstdout:\n%s\nstderr:\n%s", code, want, out, errs)
	}
	code, out, errs = runCluster(t, "apply", "-f", file, kc)
	want = "Deployment/" + ns + "/kube0: spec.selector cannot change in place"
	if code != 1 || !strings.Contains(errs, want) || !strings.Contains(errs, "hint: --force-replace") {
		t.Errorf("apply = %d, want 1 with %q and the hint\nstdout:\n%s\nstderr:\n%s", code, want, out, errs)
	}
	if diff := cmp.Diff(created, objectUIDs(t, ns)); diff != "" {
		t.Errorf("objects changed by a refused apply (-buildx created +after):\n%s", diff)
	}
	code, out, errs = runCluster(t, "apply", "-f", file, kc, "--force-replace")
	if code != 0 || !strings.Contains(errs, "Deployment/"+ns+"/kube0: deleted, to be created again\n") ||
		!strings.Contains(out, "Apply complete: 0 created, 0 updated, 1 replaced, 0 pruned, 1 ready.") {
		t.Fatalf("apply --force-replace = %d\nstdout:\n%s\nstderr:\n%s", code, out, errs)
	}
	after := objectUIDs(t, ns)
	if after["Deployment/kube0"] == created["Deployment/kube0"] || after["Deployment/kube0"] == "" {
		t.Errorf("Deployment kube0 not recreated: uid %q, was %q", after["Deployment/kube0"], created["Deployment/kube0"])
	}
	if code, out, _ := runCluster(t, "plan", "-f", file, kc, "--exit-code"); code != 0 {
		t.Errorf("plan --exit-code after the replace = %d, want 0\n%s", code, out)
	}
}

// runBuildx runs the real docker buildx with its store in bx against the test cluster and fails
// the test unless it succeeds.
func runBuildx(t *testing.T, bx string, args ...string) string {
	t.Helper()
	out, err := tryBuildx(t, bx, args...)
	if err != nil {
		t.Fatalf("buildx %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// tryBuildx runs the real docker buildx with its store in bx against the test cluster. It
// returns stdout only, as buildx's client-go logs on stderr can land in the middle of a stdout
// line; on failure stderr follows, for the message.
func tryBuildx(t *testing.T, bx string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(env.BinDir, "buildx"), args...)
	cmd.Env = append(os.Environ(), "BUILDX_CONFIG="+bx, "KUBECONFIG="+env.Kubeconfig, "DOCKER_CONFIG="+t.TempDir())
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return string(out) + "\nstderr:\n" + stderr.String(), err
	}
	return string(out), nil
}

// objectUIDs returns the UIDs of the Deployments and of the ConfigMaps other than
// kube-root-ca.crt in ns, by Kind/name, so that a recreated object counts as a change.
func objectUIDs(t *testing.T, ns string) map[string]string {
	t.Helper()
	ctx := context.Background()
	c := kubernetes.NewForConfigOrDie(env.Config)
	out := map[string]string{}
	deps, err := c.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range deps.Items {
		out["Deployment/"+d.Name] = string(d.UID)
	}
	cms, err := c.CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, cm := range cms.Items {
		if cm.Name != "kube-root-ca.crt" && !strings.HasPrefix(cm.Name, "bkctl-applyset-") {
			out["ConfigMap/"+cm.Name] = string(cm.UID)
		}
	}
	return out
}

func sortedKeys(m map[string]string) []string {
	return slices.Sorted(maps.Keys(m))
}

// importedKube is what bkctl import prints for the instance the test creates (NS is the
// namespace); buildx stores the buildkitd.toml re-encoded.
const importedKube = `# Imported from docker buildx builder instances by bkctl import.
apiVersion: bkctl/v1alpha1
kind: Builders
metadata:
  name: kube-builders
  namespace: NS
builders:
  - name: kube
    nodes:
      - name: kube0
        platforms: [linux/amd64]
        replicas: 2
        loadbalance: random
        nodeSelector:
          kubernetes.io/arch: amd64
        resources:
          requests:
            cpu: 100m
            memory: 128Mi
          limits:
            cpu: "1"
            memory: 1Gi
        tolerations:
          - key: arch
            operator: Equal
            value: amd64
            effect: NoSchedule
        serviceAccountName: default
        schedulerName: default-scheduler
        annotations:
          cost-center: ci
          team: platform
        env:
          - name: BUILDKIT_STEP_LOG_MAX_SIZE
            value: "10485760"
        buildkitd:
          flags:
            - --debug
          config: |
            debug = true

            [worker]
            [worker.oci]
            gc = true
        timeout: 1m30s
      - name: kube1
        platforms: [linux/arm64]
        nodeSelector:
          kubernetes.io/arch: arm64
        rootless: true
        qemu:
          install: true
        storage:
          memory: 512Mi
        defaultLoad: true
`

// planBeforeAdoption is the plan's summary and object list before apply adopts buildx's
// objects (NS is the namespace). buildx creates with Update requests under the default user
// agent, so its fields are drift of "Go-http-client", not conflicts.
const planBeforeAdoption = `Builders:
  kube/kube0: rolls its pods: replicas unchanged, image unchanged, other fields 9
  kube/kube1: rolls its pods: replicas unchanged, image unchanged, other fields 7

Objects:
  ~ update    ConfigMap/NS/kube0-config: metadata.labels
  ~ update    Deployment/NS/kube0: metadata.labels[app.kubernetes.io/managed-by], metadata.labels[applyset.kubernetes.io/part-of], metadata.labels[bkctl.dev/builder], spec.template.metadata.annotations[bkctl.dev/config-hash], spec.template.metadata.labels[bkctl.dev/builder], spec.template.spec.containers[name=buildkitd].readinessProbe.initialDelaySeconds, spec.template.spec.containers[name=buildkitd].readinessProbe.periodSeconds, spec.template.spec.containers[name=buildkitd].readinessProbe.timeoutSeconds [drift: .spec.template.spec.containers[name="buildkitd"].readinessProbe.initialDelaySeconds, .spec.template.spec.containers[name="buildkitd"].readinessProbe.periodSeconds, .spec.template.spec.containers[name="buildkitd"].readinessProbe.timeoutSeconds set by "Go-http-client"]
  ~ update    Deployment/NS/kube1: metadata.labels[app.kubernetes.io/managed-by], metadata.labels[applyset.kubernetes.io/part-of], metadata.labels[bkctl.dev/builder], spec.template.metadata.labels[bkctl.dev/builder], spec.template.spec.containers[name=buildkitd].readinessProbe.initialDelaySeconds, spec.template.spec.containers[name=buildkitd].readinessProbe.periodSeconds, spec.template.spec.containers[name=buildkitd].readinessProbe.timeoutSeconds [drift: .spec.template.spec.containers[name="buildkitd"].readinessProbe.initialDelaySeconds, .spec.template.spec.containers[name="buildkitd"].readinessProbe.periodSeconds, .spec.template.spec.containers[name="buildkitd"].readinessProbe.timeoutSeconds set by "Go-http-client"]
  + create    ConfigMap/NS/bkctl-applyset-kube-builders (inventory)

Plan: 0 to create, 3 to update, 0 to prune, 0 unchanged, 0 conflicts.
`
