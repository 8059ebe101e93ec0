package apply_test

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/bkctl/bkctl/internal/apply"
	"github.com/bkctl/bkctl/internal/diff"
	"github.com/bkctl/bkctl/internal/render"
	"github.com/bkctl/bkctl/internal/spec"
)

const oneNode = `
builders:
  - name: kube
    nodes:
      - name: amd
        platforms: [linux/amd64]
        nodeSelector: {kubernetes.io/arch: amd64}
        replicas: 1
`

func clientset(t *testing.T) kubernetes.Interface {
	cs, err := kubernetes.NewForConfig(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

func summary(p *diff.Plan) []string {
	var out []string
	for _, s := range p.Summary() {
		out = append(out, s.String())
	}
	return out
}

func TestCreateFromScratch(t *testing.T) {
	f := newFixture(t)
	l := f.file(oneNode)
	p := f.plan(l)
	if diff := cmp.Diff([]string{"Deployment/amd create"}, actions(p)); diff != "" {
		t.Errorf("plan (-want +got):\n%s", diff)
	}
	if p.Inventory.Action != diff.Create {
		t.Errorf("inventory action = %s, want create", p.Inventory.Action)
	}
	res := f.mustApply(l)
	if len(res.Ready) != 1 {
		t.Errorf("ready = %v, want the Deployment", res.Ready)
	}
	cm, err := clientset(t).CoreV1().ConfigMaps(f.ns).Get(ctx(t), l.set.ParentName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := cm.Labels["applyset.kubernetes.io/id"]; got != l.set.ID {
		t.Errorf("parent id label = %q, want %q", got, l.set.ID)
	}
	want := map[string]string{
		"applyset.kubernetes.io/tooling":              "bkctl/devel",
		"applyset.kubernetes.io/contains-group-kinds": "Deployment.apps",
	}
	for k, v := range want {
		if cm.Annotations[k] != v {
			t.Errorf("parent annotation %s = %q, want %q", k, cm.Annotations[k], v)
		}
	}
	if _, ok := cm.Annotations["applyset.kubernetes.io/additional-namespaces"]; ok {
		t.Errorf("parent has additional-namespaces, but every member is in its namespace")
	}
	if p := f.plan(l); p.Pending() {
		t.Errorf("plan after apply is pending: %v", actions(p))
	}
}

func TestSecondApplyWritesNothing(t *testing.T) {
	f := newFixture(t)
	l := f.file(oneNode + `
        buildkitd:
          config: |
            debug = true
`)
	f.mustApply(l)
	before := f.counter.mutating.Load()
	res := f.mustApply(l)
	if !res.InSync() {
		t.Errorf("second apply not in sync: %v", actions(res.Plan))
	}
	if n := f.counter.mutating.Load() - before; n != 0 {
		t.Errorf("second apply made %d mutating requests: %v", n, f.counter.log)
	}
}

func TestScaleAndImage(t *testing.T) {
	f := newFixture(t)
	f.mustApply(f.file(oneNode))
	l := f.file(strings.Replace(oneNode, "replicas: 1", "replicas: 2", 1))
	p := f.plan(l)
	if diff := cmp.Diff([]string{"kube/amd: replicas 1 → 2, image unchanged"}, summary(p)); diff != "" {
		t.Errorf("summary (-want +got):\n%s", diff)
	}
	if c := p.Changes[0]; !slices.Equal(c.Fields, []string{"spec.replicas"}) {
		t.Errorf("fields = %v, want [spec.replicas]", c.Fields)
	}
	f.mustApply(l)

	l = f.file(strings.Replace(oneNode, "replicas: 1", "replicas: 2\n        image: moby/buildkit:v0.34.2", 1))
	p = f.plan(l)
	if diff := cmp.Diff([]string{"kube/amd: rolls its pods: replicas unchanged, image moby/buildkit:buildx-stable-1 → moby/buildkit:v0.34.2"}, summary(p)); diff != "" {
		t.Errorf("summary (-want +got):\n%s", diff)
	}
	f.mustApply(l)
	d, err := clientset(t).AppsV1().Deployments(f.ns).Get(ctx(t), "amd", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := d.Spec.Template.Spec.Containers[0].Image; got != "moby/buildkit:v0.34.2" {
		t.Errorf("image = %q", got)
	}
}

const twoBuilders = `
builders:
  - name: kube
    nodes:
      - name: amd
        platforms: [linux/amd64]
        nodeSelector: {kubernetes.io/arch: amd64}
      - name: arm
        platforms: [linux/arm64]
        nodeSelector: {kubernetes.io/arch: arm64}
        buildkitd:
          config: |
            debug = true
  - name: other
    nodes:
      - name: other0
        nodeSelector: {kubernetes.io/arch: amd64}
`

func TestAddAndRemoveNodeAndBuilder(t *testing.T) {
	f := newFixture(t)
	f.mustApply(f.file(oneNode))
	l := f.file(twoBuilders)
	p := f.plan(l)
	want := []string{"ConfigMap/arm-config create", "Deployment/amd unchanged", "Deployment/arm create", "Deployment/other0 create"}
	if diff := cmp.Diff(want, actions(p)); diff != "" {
		t.Errorf("plan (-want +got):\n%s", diff)
	}
	f.mustApply(l)

	// remove node arm (and its ConfigMap), and the whole builder "other"
	l = f.file(oneNode)
	p = f.plan(l)
	want = []string{"Deployment/amd unchanged", "Deployment/arm prune", "Deployment/other0 prune", "ConfigMap/arm-config prune"}
	if diff := cmp.Diff(want, actions(p)); diff != "" {
		t.Errorf("plan (-want +got):\n%s", diff)
	}
	wantSum := []string{
		"kube/amd: in sync",
		"kube/arm: removed (replicas 1, image moby/buildkit:buildx-stable-1, mode privileged, platforms linux/arm64, buildkitd.config removed)",
		"other/other0: removed (replicas 1, image moby/buildkit:buildx-stable-1, mode privileged)",
	}
	if diff := cmp.Diff(wantSum, summary(p)); diff != "" {
		t.Errorf("summary (-want +got):\n%s", diff)
	}
	res := f.mustApply(l)
	if len(res.Pruned) != 3 {
		t.Errorf("pruned %v, want 3 objects", res.Pruned)
	}
	_, err := clientset(t).AppsV1().Deployments(f.ns).Get(ctx(t), "arm", metav1.GetOptions{})
	if !apierrors.IsNotFound(err) {
		t.Errorf("Deployment arm after prune: %v, want NotFound", err)
	}
	if p := f.plan(l); p.Pending() {
		t.Errorf("plan after prune is pending: %v", actions(p))
	}
}

func TestPruneFalseKeepsMembers(t *testing.T) {
	f := newFixture(t)
	f.mustApply(f.file(twoBuilders))
	l := f.file(oneNode)
	if _, err := f.apply(l, func(o *apply.Options) { o.Prune = false }); err != nil {
		t.Fatal(err)
	}
	if _, err := clientset(t).AppsV1().Deployments(f.ns).Get(ctx(t), "arm", metav1.GetOptions{}); err != nil {
		t.Errorf("Deployment arm after --prune=false: %v", err)
	}
	// still recorded: the next apply with prune removes it
	if got := actions(f.plan(l)); !slices.Contains(got, "Deployment/arm prune") {
		t.Errorf("plan after --prune=false = %v, want arm pruned", got)
	}
}

func TestRootlessToPrivileged(t *testing.T) {
	f := newFixture(t)
	l := f.file(strings.Replace(oneNode, "replicas: 1", "replicas: 1\n        rootless: true", 1))
	f.mustApply(l)
	p := f.plan(f.file(oneNode))
	got := summary(p)
	if len(got) != 1 || !strings.Contains(got[0], "mode rootless → privileged") || !strings.Contains(got[0], "image moby/buildkit:buildx-stable-1-rootless → moby/buildkit:buildx-stable-1") {
		t.Errorf("summary = %q, want a mode and image switch", got)
	}
	f.mustApply(f.file(oneNode))
	d, err := clientset(t).AppsV1().Deployments(f.ns).Get(ctx(t), "amd", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if sc := d.Spec.Template.Spec.Containers[0].SecurityContext; sc == nil || sc.Privileged == nil || !*sc.Privileged {
		t.Errorf("container security context = %+v, want privileged", sc)
	}
}

func TestUnrelatedDeploymentNeverPruned(t *testing.T) {
	f := newFixture(t)
	l := f.file(oneNode)
	f.mustApply(l)
	// same labels as a bkctl node, even managed-by, but not a member of this inventory
	replicas := int32(0)
	labels := map[string]string{"app": "stranger", "app.kubernetes.io/managed-by": "bkctl", "bkctl.dev/builder": "kube"}
	stranger := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "stranger", Namespace: f.ns, Labels: labels},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "stranger"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
			},
		},
	}
	if _, err := clientset(t).AppsV1().Deployments(f.ns).Create(ctx(t), stranger, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	empty := f.file("builders: []\n")
	p := f.plan(empty)
	if diff := cmp.Diff([]string{"Deployment/amd prune"}, actions(p)); diff != "" {
		t.Errorf("plan of an empty file (-want +got):\n%s", diff)
	}
	f.mustApply(empty)
	if _, err := clientset(t).AppsV1().Deployments(f.ns).Get(ctx(t), "stranger", metav1.GetOptions{}); err != nil {
		t.Errorf("unrelated Deployment: %v", err)
	}
	_, err := clientset(t).CoreV1().ConfigMaps(f.ns).Get(ctx(t), l.set.ParentName, metav1.GetOptions{})
	if !apierrors.IsNotFound(err) {
		t.Errorf("parent after applying an empty file: %v, want NotFound", err)
	}
}

func TestDelete(t *testing.T) {
	f := newFixture(t)
	l := f.file(twoBuilders)
	f.mustApply(l)
	if res := f.mustDelete(l); len(res.Pruned) != 4 {
		t.Errorf("deleted %v, want 4 objects", res.Pruned)
	}
	p, err := f.m.PlanDelete(ctx(t), l.set, l.objs)
	if err != nil {
		t.Fatal(err)
	}
	if p.Pending() {
		t.Errorf("after delete, plan delete still pending: %v (inventory %s)", actions(p), p.Inventory.Action)
	}
}

func TestPersistentCacheNode(t *testing.T) {
	f := newFixture(t)
	// no provisioner in the test cluster: a static volume for the one claim
	pv := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: f.ns},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")},
			AccessModes:                   []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			StorageClassName:              f.ns,
			PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimRetain,
			PersistentVolumeSource:        corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/tmp/" + f.ns}},
		},
	}
	if _, err := clientset(t).CoreV1().PersistentVolumes().Create(ctx(t), pv, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = clientset(t).CoreV1().PersistentVolumes().Delete(ctx(t), f.ns, metav1.DeleteOptions{}) })
	l := f.file(strings.Replace(oneNode, "replicas: 1", "replicas: 1\n        storage: {persistentVolume: {size: 1Gi, storageClassName: {{ns}}}}", 1))
	if got := actions(f.plan(l)); !slices.Equal(got, []string{"StatefulSet/amd create"}) {
		t.Errorf("plan = %v", got)
	}
	res := f.mustApply(l)
	if len(res.Ready) != 1 {
		t.Errorf("ready = %v", res.Ready)
	}
	// storage moves to memory, a Deployment: the node changes kind, which replaces its workload
	l = f.file(strings.Replace(oneNode, "replicas: 1", "replicas: 1\n        storage: {memory: 1Gi}", 1))
	p := f.plan(l)
	if diff := cmp.Diff([]string{"Deployment/amd replace", "StatefulSet/amd prune"}, actions(p)); diff != "" {
		t.Errorf("plan (-want +got):\n%s", diff)
	}
	if got := summary(p); len(got) != 1 || !strings.Contains(got[0], "replace: kind StatefulSet → Deployment") {
		t.Errorf("summary = %q, want a kind switch", got)
	}
	f.refused(l, "Deployment/"+f.ns+"/amd", "changes kind")
	if _, err := clientset(t).AppsV1().StatefulSets(f.ns).Get(ctx(t), "amd", metav1.GetOptions{}); err != nil {
		t.Fatalf("StatefulSet after a refused replace: %v", err)
	}
	var kept []string
	res, err := f.apply(l, func(o *apply.Options) {
		o.ForceReplace = true
		o.Progress = func(e apply.Event) {
			if e.Type == apply.EventKept {
				kept = append(kept, e.Ref.String())
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"PersistentVolumeClaim/" + f.ns + "/buildkitd-amd-0"}; !slices.Equal(kept, want) {
		t.Errorf("kept %v, want %v", kept, want)
	}
	if diff := cmp.Diff([]string{"StatefulSet/" + f.ns + "/amd"}, refStrings(res.Replaced)); diff != "" {
		t.Errorf("replaced (-want +got):\n%s", diff)
	}
	if len(res.Pruned) != 0 || len(res.Ready) != 1 {
		t.Errorf("pruned %v, ready %v: want the StatefulSet replaced, not pruned again, and the Deployment ready", res.Pruned, res.Ready)
	}
	// and back to a persistent volume: a replace again, the kept claim is used again
	l = f.file(strings.Replace(oneNode, "replicas: 1", "replicas: 1\n        storage: {persistentVolume: {size: 1Gi, storageClassName: {{ns}}}}", 1))
	if diff := cmp.Diff([]string{"StatefulSet/amd replace", "Deployment/amd prune"}, actions(f.plan(l))); diff != "" {
		t.Errorf("plan back (-want +got):\n%s", diff)
	}
	f.refused(l, "StatefulSet/"+f.ns+"/amd", "changes kind")
	if res, err := f.apply(l, forceReplace); err != nil || len(res.Ready) != 1 {
		t.Errorf("apply --force-replace back to a StatefulSet: %v, ready %v", err, res.Ready)
	}
	if _, err := clientset(t).CoreV1().PersistentVolumeClaims(f.ns).Get(ctx(t), "buildkitd-amd-0", metav1.GetOptions{}); err != nil {
		t.Errorf("claim after prune: %v", err)
	}
}

func TestWaitTimeout(t *testing.T) {
	f := newFixture(t)
	l := f.file(`
builders:
  - name: kube
    nodes:
      - name: nowhere
        nodeSelector: {kubernetes.io/arch: s390x}
        timeout: 3s
`)
	p := f.plan(l)
	opts := apply.DefaultOptions()
	opts.Timeout = func(diff.Ref) time.Duration { return 3 * time.Second }
	_, err := f.m.Apply(ctx(t), l.set, p, opts)
	var we *apply.WaitError
	if !errors.As(err, &we) {
		t.Fatalf("apply = %v, want a WaitError", err)
	}
	if len(we.Failures) != 1 || we.Failures[0].Ref.Name != "nowhere" || we.Failures[0].Status != "InProgress" {
		t.Fatalf("failures = %+v", we.Failures)
	}
	if msg := we.Failures[0].Message; !strings.Contains(msg, "Unschedulable") {
		t.Errorf("message %q does not say why", msg)
	}
	t.Log(err)
}

// TestFileCreatesItsOwnNamespace applies a file whose inventory lives in a namespace the file
// itself creates (createNamespace with metadata.namespace), as examples/builders.yaml does.
func TestFileCreatesItsOwnNamespace(t *testing.T) {
	f := newFixture(t)
	own := f.ns + "-own"
	src := "apiVersion: bkctl/v1alpha1\nkind: Builders\nmetadata: {name: fleet, namespace: " + own + "}\n" +
		"builders:\n  - name: kube\n    createNamespace: true\n    nodes: [{name: amd, nodeSelector: {kubernetes.io/arch: amd64}}]\n"
	res, err := spec.Parse(filepath.Join(t.TempDir(), "builders.yaml"), []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	objs, err := render.Render(res.File)
	if err != nil {
		t.Fatal(err)
	}
	l := loaded{file: res.File, objs: objs, set: render.ApplySet(res.File)}
	t.Cleanup(func() {
		if err := env.DeleteNamespace(context.Background(), own); err != nil {
			t.Error(err)
		}
	})
	f.mustApply(l)
	if _, err := clientset(t).CoreV1().ConfigMaps(own).Get(ctx(t), l.set.ParentName, metav1.GetOptions{}); err != nil {
		t.Errorf("parent in the file's own namespace: %v", err)
	}
	if p := f.plan(l); p.Pending() {
		t.Errorf("plan after apply is pending: %v", actions(p))
	}
}
