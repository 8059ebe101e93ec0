package apply

import (
	"context"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
)

// A stream is one list-then-watch of one resource in one namespace: the wait runs one per kind
// and namespace of its workloads, and one for the builder pods of each namespace, whatever the
// number of objects. Objects are decoded from protobuf into typed structs and handed on at once;
// the wait keeps only what it computes from them, never the objects.
type streamKey struct {
	resource  string // "deployments", "statefulsets" or "pods"
	namespace string
}

// streamEvent is what a stream reports: the objects of a complete list (list is true; they
// replace what the stream reported before), that its watch is open, one watch event, or an
// error of a list or watch.
type streamEvent struct {
	key   streamKey
	list  bool
	open  bool
	items []runtime.Object
	typ   watch.EventType
	obj   runtime.Object
	err   error
}

// source lists and watches one resource with the typed clients.
type source struct {
	list  func(ctx context.Context, ns string, o metav1.ListOptions) ([]runtime.Object, string, error)
	watch func(ctx context.Context, ns string, o metav1.ListOptions) (watch.Interface, error)
}

func (m *Manager) source(resource string) source {
	switch resource {
	case "deployments":
		return source{
			list: func(ctx context.Context, ns string, o metav1.ListOptions) ([]runtime.Object, string, error) {
				l, err := m.apps.Deployments(ns).List(ctx, o)
				if err != nil {
					return nil, "", err
				}
				return objects(l.Items), l.ResourceVersion, nil
			},
			watch: func(ctx context.Context, ns string, o metav1.ListOptions) (watch.Interface, error) {
				return m.apps.Deployments(ns).Watch(ctx, o)
			},
		}
	case "statefulsets":
		return source{
			list: func(ctx context.Context, ns string, o metav1.ListOptions) ([]runtime.Object, string, error) {
				l, err := m.apps.StatefulSets(ns).List(ctx, o)
				if err != nil {
					return nil, "", err
				}
				return objects(l.Items), l.ResourceVersion, nil
			},
			watch: func(ctx context.Context, ns string, o metav1.ListOptions) (watch.Interface, error) {
				return m.apps.StatefulSets(ns).Watch(ctx, o)
			},
		}
	default:
		return source{
			list: func(ctx context.Context, ns string, o metav1.ListOptions) ([]runtime.Object, string, error) {
				l, err := m.core.Pods(ns).List(ctx, o)
				if err != nil {
					return nil, "", err
				}
				return objects(l.Items), l.ResourceVersion, nil
			},
			watch: func(ctx context.Context, ns string, o metav1.ListOptions) (watch.Interface, error) {
				return m.core.Pods(ns).Watch(ctx, o)
			},
		}
	}
}

// objects returns pointers to a list's items as runtime objects.
func objects[T any, P interface {
	*T
	runtime.Object
}](items []T) []runtime.Object {
	out := make([]runtime.Object, len(items))
	for i := range items {
		out[i] = P(&items[i])
	}
	return out
}

// Backoff between attempts of a stream whose list or watch failed for a reason other than a
// refusal (a refusal ends the wait).
const (
	retryFirst = 200 * time.Millisecond
	retryMax   = 5 * time.Second
)

// follow lists key's objects that match selector, then watches from the list's version until ctx
// ends, reporting to out. A watch that ends is resumed where it stopped; one whose version has
// expired lists again. A failed list or watch is reported and tried again after a backoff,
// except a refused one: the wait ends on it, so the stream stops.
func (m *Manager) follow(ctx context.Context, key streamKey, selector string, out chan<- streamEvent) {
	src := m.source(key.resource)
	send := func(e streamEvent) bool {
		e.key = key
		select {
		case out <- e:
			return true
		case <-ctx.Done():
			return false
		}
	}
	backoff := retryFirst
	retry := func(err error) bool {
		if !send(streamEvent{err: err}) || refused(err) {
			return false
		}
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return false
		}
		backoff = min(2*backoff, retryMax)
		return true
	}
	rv := ""
	for ctx.Err() == nil {
		if rv == "" {
			items, v, err := src.list(ctx, key.namespace, metav1.ListOptions{LabelSelector: selector})
			if err != nil {
				if ctx.Err() != nil || !retry(err) {
					return
				}
				continue
			}
			if !send(streamEvent{list: true, items: items}) {
				return
			}
			rv = v
		}
		w, err := src.watch(ctx, key.namespace, metav1.ListOptions{LabelSelector: selector, ResourceVersion: rv, AllowWatchBookmarks: true})
		if err != nil {
			if apierrors.IsResourceExpired(err) || apierrors.IsGone(err) {
				rv = ""
				continue
			}
			if ctx.Err() != nil || !retry(err) {
				return
			}
			continue
		}
		backoff = retryFirst
		if !send(streamEvent{open: true}) {
			w.Stop()
			return
		}
		rv = drain(ctx, w, rv, send)
		w.Stop()
	}
}

// drain hands on w's events until it ends, and returns the version to resume from: "" when the
// server says it has expired, so the stream lists again.
func drain(ctx context.Context, w watch.Interface, rv string, send func(streamEvent) bool) string {
	for {
		select {
		case <-ctx.Done():
			return rv
		case e, ok := <-w.ResultChan():
			if !ok {
				return rv
			}
			switch e.Type {
			case watch.Error:
				if err := apierrors.FromObject(e.Object); apierrors.IsResourceExpired(err) || apierrors.IsGone(err) {
					return ""
				}
				return rv
			case watch.Bookmark:
			default:
				if !send(streamEvent{typ: e.Type, obj: e.Object}) {
					return rv
				}
			}
			if a, err := meta.Accessor(e.Object); err == nil && a.GetResourceVersion() != "" {
				rv = a.GetResourceVersion()
			}
		}
	}
}

// resourceOf names the resource of a workload kind the wait follows.
func resourceOf(kind string) string {
	if kind == "StatefulSet" {
		return "statefulsets"
	}
	return "deployments"
}
