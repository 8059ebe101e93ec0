package main

import (
	"context"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
)

// availableAt watches the Deployments of ns until n of them are Available (the controller-
// manager has rolled them out) and returns when that happened, or the zero time when ctx ended
// first. It talks to the API server directly, so the proxy does not count it.
func availableAt(ctx context.Context, cs kubernetes.Interface, ns string, n int) time.Time {
	avail := map[string]bool{}
	count := func() int {
		c := 0
		for _, a := range avail {
			if a {
				c++
			}
		}
		return c
	}
	isAvailable := func(d *appsv1.Deployment) bool {
		if d.Status.ObservedGeneration < d.Generation {
			return false
		}
		for _, c := range d.Status.Conditions {
			if c.Type == appsv1.DeploymentAvailable {
				return c.Status == corev1.ConditionTrue
			}
		}
		return false
	}
	for ctx.Err() == nil {
		l, err := cs.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			time.Sleep(time.Second)
			continue
		}
		for i := range l.Items {
			avail[l.Items[i].Name] = isAvailable(&l.Items[i])
		}
		if count() >= n {
			return time.Now()
		}
		w, err := cs.AppsV1().Deployments(ns).Watch(ctx, metav1.ListOptions{ResourceVersion: l.ResourceVersion})
		if err != nil {
			continue
		}
		for e := range w.ResultChan() {
			d, ok := e.Object.(*appsv1.Deployment)
			if !ok {
				break
			}
			avail[d.Name] = e.Type != watch.Deleted && isAvailable(d)
			if count() >= n {
				w.Stop()
				return time.Now()
			}
		}
		w.Stop()
	}
	return time.Time{}
}
