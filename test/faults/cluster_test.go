package faults

import (
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// deployments returns the names of the Deployments in ns that are not being deleted, sorted.
func deployments(t *testing.T, ns string) []string {
	t.Helper()
	list, err := kubernetes.NewForConfigOrDie(env.Config).AppsV1().Deployments(ns).List(ctx(t), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, d := range list.Items {
		if d.DeletionTimestamp == nil {
			names = append(names, d.Name)
		}
	}
	slices.Sort(names)
	return names
}

// parent returns the inventory ConfigMap of the file "faults" in ns.
func parent(t *testing.T, ns string) *corev1.ConfigMap {
	t.Helper()
	cm, err := kubernetes.NewForConfigOrDie(env.Config).CoreV1().ConfigMaps(ns).Get(ctx(t), "bkctl-applyset-faults", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return cm
}

// waitFor polls cond until it holds, or fails the test after a minute.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("wait for %s: still not so after 1m", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func contains(list []string, s string) bool { return slices.Contains(list, s) }

func sameSet(got, want []string) bool {
	a, b := slices.Clone(got), slices.Clone(want)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}
