package apply_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bkctl/bkctl/internal/apply"
	"github.com/bkctl/bkctl/internal/diff"
	"github.com/bkctl/bkctl/internal/keys"
)

// TestConfigChangeRollsPods changes only the buildkitd.toml: the pod template's config hash
// changes with it, the plan says the node rolls its pods, and the apply waits for a new
// ReplicaSet whose pods carry the new hash.
func TestConfigChangeRollsPods(t *testing.T) {
	f := newFixture(t)
	withConfig := func(cfg string) loaded {
		return f.file(strings.Replace(oneNode, "replicas: 1", "replicas: 1\n        buildkitd: {config: \""+cfg+"\"}", 1))
	}
	f.mustApply(withConfig("debug = true"))
	before := templateHash(t, f.ns)

	l := withConfig("debug = false")
	p := f.plan(l)
	got := summary(p)
	if len(got) != 1 || !strings.Contains(got[0], "rolls its pods") || !strings.Contains(got[0], "buildkitd.config changed") {
		t.Errorf("summary = %q, want a rollout for the changed config", got)
	}
	if s := p.Summary(); len(s) != 1 || !s[0].Rollout {
		t.Errorf("summary rollout = %+v, want true", s)
	}
	if diff := cmp.Diff([]string{"ConfigMap/amd-config update", "Deployment/amd update"}, actions(p)); diff != "" {
		t.Errorf("plan (-want +got):\n%s", diff)
	}
	res := f.mustApply(l)
	if !slices.ContainsFunc(res.Ready, func(r diff.Ref) bool { return r.Kind == "Deployment" && r.Name == "amd" }) {
		t.Errorf("ready = %v, want the Deployment waited for", res.Ready)
	}
	after := templateHash(t, f.ns)
	if before == after {
		t.Fatalf("pod-template-hash %q unchanged after a config change", after)
	}
	// the wait returned once the new ReplicaSet's pods were ready and the old one scaled down
	rss, err := clientset(t).AppsV1().ReplicaSets(f.ns).List(ctx(t), metav1.ListOptions{LabelSelector: "app=amd"})
	if err != nil {
		t.Fatal(err)
	}
	for _, rs := range rss.Items {
		want := int32(0)
		if rs.Labels[appsv1.DefaultDeploymentUniqueLabelKey] == after {
			want = 1
		}
		if rs.Status.ReadyReplicas != want {
			t.Errorf("ReplicaSet %s (hash %s): %d ready, want %d", rs.Name, rs.Labels[appsv1.DefaultDeploymentUniqueLabelKey], rs.Status.ReadyReplicas, want)
		}
	}
	if len(rss.Items) != 2 {
		t.Errorf("%d ReplicaSets, want the old and the new", len(rss.Items))
	}
}

// templateHash returns the pod-template-hash of the newest ReplicaSet of Deployment amd whose
// template carries the Deployment's config hash.
func templateHash(t *testing.T, ns string) string {
	t.Helper()
	d, err := clientset(t).AppsV1().Deployments(ns).Get(ctx(t), "amd", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := d.Spec.Template.Annotations[keys.AnnotationConfigHash]
	if want == "" {
		t.Fatalf("Deployment amd has no %s", keys.AnnotationConfigHash)
	}
	rss, err := clientset(t).AppsV1().ReplicaSets(ns).List(ctx(t), metav1.ListOptions{LabelSelector: "app=amd"})
	if err != nil {
		t.Fatal(err)
	}
	for _, rs := range rss.Items {
		if rs.Spec.Template.Annotations[keys.AnnotationConfigHash] == want {
			return rs.Labels[appsv1.DefaultDeploymentUniqueLabelKey]
		}
	}
	t.Fatalf("no ReplicaSet of amd with config hash %s", want)
	return ""
}

// refused applies l without --force-replace and checks that it is refused naming the object
// and field, with nothing written.
func (f *fixture) refused(l loaded, object, field string) {
	f.t.Helper()
	before := f.counter.mutating.Load()
	_, err := f.apply(l, nil)
	var re *apply.ReplaceError
	if !errors.As(err, &re) {
		f.t.Fatalf("apply without --force-replace: %v, want a ReplaceError", err)
	}
	if !strings.Contains(err.Error(), object) || !strings.Contains(err.Error(), field) || !strings.Contains(err.Error(), "--force-replace") {
		f.t.Errorf("error %q does not name %s, %s and the flag", err, object, field)
	}
	if n := f.counter.mutating.Load() - before; n != 0 {
		f.t.Errorf("%d mutating requests on a refused replace, want 0: %v", n, f.counter.log)
	}
}

func forceReplace(o *apply.Options) { o.ForceReplace = true }

// TestSelectorChangeIsAReplace adopts a Deployment that buildx made with labels=team=x: buildx
// puts its labels into the selector, bkctl selects by app only, and a selector is immutable.
func TestSelectorChangeIsAReplace(t *testing.T) {
	f := newFixture(t)
	replicas := int32(1)
	sel := map[string]string{"app": "amd", "team": "x"}
	old := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "amd", Namespace: f.ns, Labels: sel},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: sel},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: sel},
				Spec: corev1.PodSpec{
					NodeSelector: map[string]string{"kubernetes.io/arch": "amd64"},
					Containers:   []corev1.Container{{Name: "buildkitd", Image: "moby/buildkit:buildx-stable-1"}},
				},
			},
		},
	}
	created, err := clientset(t).AppsV1().Deployments(f.ns).Create(ctx(t), old, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	l := f.file(strings.Replace(oneNode, "replicas: 1", "replicas: 1\n        labels: {team: x}", 1))
	p := f.plan(l)
	if diff := cmp.Diff([]string{"Deployment/amd replace"}, actions(p)); diff != "" {
		t.Fatalf("plan (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"spec.selector"}, p.Changes[0].Immutable); diff != "" {
		t.Errorf("immutable (-want +got):\n%s", diff)
	}
	if got := summary(p); len(got) != 1 || !strings.Contains(got[0], "replace (immutable spec.selector)") {
		t.Errorf("summary = %q", got)
	}
	f.refused(l, "Deployment/"+f.ns+"/amd", "spec.selector")

	res, err := f.apply(l, forceReplace)
	if err != nil {
		t.Fatalf("apply --force-replace: %v", err)
	}
	if diff := cmp.Diff([]string{"Deployment/" + f.ns + "/amd"}, refStrings(res.Replaced)); diff != "" {
		t.Errorf("replaced (-want +got):\n%s", diff)
	}
	d, err := clientset(t).AppsV1().Deployments(f.ns).Get(ctx(t), "amd", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if d.UID == created.UID {
		t.Error("the Deployment was not recreated")
	}
	if diff := cmp.Diff(map[string]string{"app": "amd"}, d.Spec.Selector.MatchLabels); diff != "" {
		t.Errorf("selector (-want +got):\n%s", diff)
	}
	if len(res.Ready) != 1 {
		t.Errorf("ready = %v, want the recreated Deployment", res.Ready)
	}
	if p := f.plan(l); p.Pending() {
		t.Errorf("plan after the replace: %v, want in sync", actions(p))
	}
}

// staticVolume makes a PersistentVolume of size in class ns (the test cluster has no
// provisioner) and removes it after the test.
func staticVolume(t *testing.T, ns, name, size string) {
	pv := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(size)},
			AccessModes:                   []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			StorageClassName:              ns,
			PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimRetain,
			PersistentVolumeSource:        corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/tmp/" + name}},
		},
	}
	if _, err := clientset(t).CoreV1().PersistentVolumes().Create(ctx(t), pv, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = clientset(t).CoreV1().PersistentVolumes().Delete(ctx(t), name, metav1.DeleteOptions{}) })
}

// TestClaimSizeIsAReplace grows a StatefulSet node's volume: the claim template is immutable.
// The forced replace recreates the StatefulSet and keeps the claim (the build cache).
func TestClaimSizeIsAReplace(t *testing.T) {
	f := newFixture(t)
	staticVolume(t, f.ns, f.ns, "2Gi")
	withSize := func(size string) loaded {
		return f.file(strings.Replace(oneNode, "replicas: 1", "replicas: 1\n        storage: {persistentVolume: {size: "+size+", storageClassName: {{ns}}}}", 1))
	}
	f.mustApply(withSize("1Gi"))
	sts, err := clientset(t).AppsV1().StatefulSets(f.ns).Get(ctx(t), "amd", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	claim, err := clientset(t).CoreV1().PersistentVolumeClaims(f.ns).Get(ctx(t), "buildkitd-amd-0", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}

	l := withSize("2Gi")
	p := f.plan(l)
	if diff := cmp.Diff([]string{"StatefulSet/amd replace"}, actions(p)); diff != "" {
		t.Fatalf("plan (-want +got):\n%s", diff)
	}
	const field = "spec.volumeClaimTemplates[name=buildkitd].spec.resources.requests.storage"
	if diff := cmp.Diff([]string{field}, p.Changes[0].Immutable); diff != "" {
		t.Errorf("immutable (-want +got):\n%s", diff)
	}
	// the diff shows the size change, not the server's defaults as removed
	hunks := diff.Hunks(p.Changes[0], 0)
	has := func(prefix, text string) bool {
		return slices.ContainsFunc(hunks, func(h string) bool { return strings.HasPrefix(h, prefix) && strings.Contains(h, text) })
	}
	if !has("-", "storage: 1Gi") || !has("+", "storage: 2Gi") || has("-", "dnsPolicy") {
		t.Errorf("diff of the replace:\n%s", strings.Join(hunks, "\n"))
	}
	f.refused(l, "StatefulSet/"+f.ns+"/amd", field)

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
		t.Fatalf("apply --force-replace: %v", err)
	}
	if diff := cmp.Diff([]string{"StatefulSet/" + f.ns + "/amd"}, refStrings(res.Replaced)); diff != "" {
		t.Errorf("replaced (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"PersistentVolumeClaim/" + f.ns + "/buildkitd-amd-0"}, kept); diff != "" {
		t.Errorf("kept (-want +got):\n%s", diff)
	}
	now, err := clientset(t).AppsV1().StatefulSets(f.ns).Get(ctx(t), "amd", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if now.UID == sts.UID {
		t.Error("the StatefulSet was not recreated")
	}
	if got := now.Spec.VolumeClaimTemplates[0].Spec.Resources.Requests.Storage().String(); got != "2Gi" {
		t.Errorf("claim template size = %s, want 2Gi", got)
	}
	same, err := clientset(t).CoreV1().PersistentVolumeClaims(f.ns).Get(ctx(t), "buildkitd-amd-0", metav1.GetOptions{})
	if err != nil || same.UID != claim.UID {
		t.Errorf("claim after the replace: %v (uid %v, was %v), want the same claim kept", err, same.UID, claim.UID)
	}
	if len(res.Ready) != 1 {
		t.Errorf("ready = %v, want the recreated StatefulSet", res.Ready)
	}
}
