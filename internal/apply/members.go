package apply

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"

	"golang.org/x/sync/errgroup"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utiljson "k8s.io/apimachinery/pkg/util/json"

	"github.com/bkctl/bkctl/internal/keys"
	"github.com/bkctl/bkctl/internal/render"
)

// liveSet holds the live members of an inventory as the JSON the API server sent. Decoded, an
// object takes several times its JSON in maps, and a plan reads each member once (to prove it
// unchanged, or to diff it with its dry-run): each is decoded when it is taken, and its JSON
// dropped then, so a fleet of thousands of members is never held decoded all at once.
type liveSet struct {
	mu sync.Mutex
	m  map[memberKey]liveJSON
}

// liveJSON is one member's JSON and the API version it was listed with.
type liveJSON struct {
	version string
	data    []byte
}

// take decodes the member k and forgets it; nil when it is not one (or was taken). Numbers
// decode as the API machinery's unstructured decoder does (int64 where they are whole).
func (s *liveSet) take(k memberKey) (*unstructured.Unstructured, error) {
	s.mu.Lock()
	j, ok := s.m[k]
	delete(s.m, k)
	s.mu.Unlock()
	if !ok {
		return nil, nil
	}
	var m map[string]any
	if err := utiljson.Unmarshal(j.data, &m); err != nil {
		return nil, fmt.Errorf("decode %s %s/%s: %w", groupKindString(k.gk), k.namespace, k.name, err)
	}
	o := &unstructured.Unstructured{Object: m}
	o.SetGroupVersionKind(k.gk.WithVersion(j.version))
	return o, nil
}

// listMembers lists, with one request per group-kind and namespace, every object that carries
// the inventory's part-of label. Each list is read as a stream, item by item, so that neither
// the whole response nor its decoded form is ever held.
func (m *Manager) listMembers(ctx context.Context, set render.ApplySetRef, in inventory) (*liveSet, error) {
	type listing struct {
		mapping *meta.RESTMapping
		ns      string
	}
	var lists []listing
	mapper := m.client.RESTMapper()
	for _, s := range in.groupKinds {
		gk := schema.ParseGroupKind(s)
		mapping, err := mapper.RESTMapping(gk)
		if err != nil {
			return nil, fmt.Errorf("inventory %s/%s records %s, which bkctl does not manage: %w", set.ParentNamespace, set.ParentName, s, err)
		}
		if mapping.Scope.Name() == meta.RESTScopeNameRoot {
			lists = append(lists, listing{mapping, ""})
			continue
		}
		for _, ns := range in.namespaces {
			lists = append(lists, listing{mapping, ns})
		}
	}
	out := &liveSet{m: map[memberKey]liveJSON{}}
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(m.opts.Concurrency)
	for _, l := range lists {
		g.Go(func() error {
			gvk := l.mapping.GroupVersionKind
			err := m.listJSON(ctx, l.mapping.Resource, l.ns, keys.LabelApplySetPartOf+"="+set.ID, func(data []byte) error {
				var id struct {
					Metadata struct{ Name, Namespace string }
				}
				if err := json.Unmarshal(data, &id); err != nil {
					return fmt.Errorf("decode %s: %w", groupKindString(gvk.GroupKind()), err)
				}
				out.mu.Lock()
				defer out.mu.Unlock()
				out.m[memberKey{gvk.GroupKind(), id.Metadata.Namespace, id.Metadata.Name}] = liveJSON{gvk.Version, data}
				return nil
			})
			if err != nil {
				where := l.ns
				if where == "" {
					where = "the cluster"
				}
				return fmt.Errorf("list %s in %s: %w", groupKindString(gvk.GroupKind()), where, m.clusterErr(err, needList))
			}
			return nil
		})
	}
	return out, g.Wait()
}

// listJSON lists the objects of resource in namespace ns ("" for a cluster-scoped resource)
// that match selector, and hands each item's JSON to each as it is read from the response.
func (m *Manager) listJSON(ctx context.Context, resource schema.GroupVersionResource, ns, selector string, each func([]byte) error) error {
	path := []string{"/apis", resource.Group, resource.Version}
	if resource.Group == "" {
		path = []string{"/api", resource.Version}
	}
	if ns != "" {
		path = append(path, "namespaces", ns)
	}
	path = append(path, resource.Resource)
	body, err := m.core.RESTClient().Get().AbsPath(path...).Param("labelSelector", selector).
		SetHeader("Accept", "application/json").Stream(ctx)
	if err != nil {
		return err
	}
	defer body.Close()
	dec := json.NewDecoder(body)
	if err := expectDelim(dec, '{'); err != nil {
		return err
	}
	for dec.More() {
		key, err := dec.Token()
		if err != nil {
			return fmt.Errorf("read list: %w", err)
		}
		if key != "items" {
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				return fmt.Errorf("read list: %w", err)
			}
			continue
		}
		tok, err := dec.Token()
		if err != nil {
			return fmt.Errorf("read list: %w", err)
		}
		if tok == nil {
			continue // "items": null
		}
		if d, ok := tok.(json.Delim); !ok || d != '[' {
			return fmt.Errorf("read list: items is %v, not a list", tok)
		}
		for dec.More() {
			var item json.RawMessage
			if err := dec.Decode(&item); err != nil {
				return fmt.Errorf("read list: %w", err)
			}
			if err := each(item); err != nil {
				return err
			}
		}
		if err := expectDelim(dec, ']'); err != nil {
			return err
		}
	}
	return expectDelim(dec, '}')
}

func expectDelim(dec *json.Decoder, want json.Delim) error {
	tok, err := dec.Token()
	if err != nil {
		return fmt.Errorf("read list: %w", err)
	}
	if d, ok := tok.(json.Delim); !ok || d != want {
		return fmt.Errorf("read list: got %v, want %v", tok, want)
	}
	return nil
}

// has reports whether k is a member not taken yet.
func (s *liveSet) has(k memberKey) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.m[k]
	return ok
}

// rest returns the keys of the members not taken, sorted by nothing.
func (s *liveSet) rest() []memberKey {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]memberKey, 0, len(s.m))
	for k := range s.m {
		out = append(out, k)
	}
	return out
}
