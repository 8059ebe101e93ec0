package apply_test

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"

	"github.com/bkctl/bkctl/internal/apply"
	"github.com/bkctl/bkctl/internal/diff"
	"github.com/bkctl/bkctl/internal/render"
	"github.com/bkctl/bkctl/internal/spec"
	"github.com/bkctl/bkctl/internal/testenv"
)

var env *testenv.Env

func TestMain(m *testing.M) { testenv.Main(m, &env) }

// counter counts the requests that can change the cluster: every method but GET, except
// server-side dry-runs; and, apart, the dry-runs.
type counter struct {
	mutating atomic.Int64
	dryRuns  atomic.Int64
	mu       sync.Mutex
	log      []string
}

func (c *counter) wrap(rt http.RoundTripper) http.RoundTripper {
	return roundTripper(func(r *http.Request) (*http.Response, error) {
		c.count(r)
		return rt.RoundTrip(r)
	})
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func (c *counter) count(r *http.Request) {
	if r.URL.Query().Get("dryRun") == "All" {
		c.dryRuns.Add(1)
	}
	if r.Method != http.MethodGet && !strings.Contains(r.URL.RawQuery, "dryRun=") {
		c.mutating.Add(1)
		c.mu.Lock()
		c.log = append(c.log, r.Method+" "+r.URL.Path)
		c.mu.Unlock()
	}
}

// fixture is one test's namespace, manager and request counter.
type fixture struct {
	t       *testing.T
	ns      string
	counter *counter
	m       *apply.Manager
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{t: t, ns: env.Namespace(t), counter: &counter{}}
	cfg := rest.CopyConfig(env.Config)
	cfg.Wrap(f.counter.wrap)
	m, err := apply.NewManager(cfg, apply.DefaultManagerOptions())
	if err != nil {
		t.Fatal(err)
	}
	f.m = m
	return f
}

// file writes a builders.yaml whose metadata.namespace is the test's namespace ({{ns}} in body
// is replaced too), loads and renders it.
type loaded struct {
	file *spec.File
	objs []*unstructured.Unstructured
	set  render.ApplySetRef
	path string
}

func (f *fixture) file(body string) loaded {
	f.t.Helper()
	return f.fileNamed("fleet", body)
}

// fileNamed is file with another metadata.name: another builders file, another inventory.
func (f *fixture) fileNamed(name, body string) loaded {
	f.t.Helper()
	head := "apiVersion: bkctl/v1alpha1\nkind: Builders\nmetadata:\n  name: " + name + "\n  namespace: " + f.ns + "\n"
	path := filepath.Join(f.t.TempDir(), "builders.yaml")
	if err := os.WriteFile(path, []byte(head+strings.ReplaceAll(body, "{{ns}}", f.ns)), 0o644); err != nil {
		f.t.Fatal(err)
	}
	res, err := spec.Load(path, nil)
	if err != nil {
		f.t.Fatalf("load: %v", err)
	}
	objs, err := render.Render(res.File)
	if err != nil {
		f.t.Fatalf("render: %v", err)
	}
	return loaded{file: res.File, objs: objs, set: render.ApplySet(res.File), path: path}
}

func (f *fixture) plan(l loaded) *diff.Plan {
	f.t.Helper()
	p, err := f.m.Plan(ctx(f.t), l.set, l.objs)
	if err != nil {
		f.t.Fatalf("plan: %v", err)
	}
	return p
}

func (f *fixture) apply(l loaded, mod func(*apply.Options)) (*apply.Result, error) {
	f.t.Helper()
	p := f.plan(l)
	opts := apply.DefaultOptions()
	opts.Timeout = func(diff.Ref) time.Duration { return 60 * time.Second }
	opts.Progress = func(e apply.Event) { f.t.Logf("event %s %s %s %s", e.Type, e.Ref, e.Action, e.Message) }
	if mod != nil {
		mod(&opts)
	}
	return f.m.Apply(ctx(f.t), l.set, p, opts)
}

func (f *fixture) mustApply(l loaded) *apply.Result {
	f.t.Helper()
	res, err := f.apply(l, nil)
	if err != nil {
		f.t.Fatalf("apply: %v", err)
	}
	return res
}

// mustDelete deletes everything l's inventory holds, as bkctl delete does, without waiting.
func (f *fixture) mustDelete(l loaded) *apply.Result {
	f.t.Helper()
	p, err := f.m.PlanDelete(ctx(f.t), l.set, l.objs)
	if err != nil {
		f.t.Fatal(err)
	}
	opts := apply.DefaultOptions()
	opts.Wait = false
	res, err := f.m.Apply(ctx(f.t), l.set, p, opts)
	if err != nil {
		f.t.Fatalf("delete: %v", err)
	}
	return res
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return c
}

// actions returns "Kind/name action" for every change of p, namespaces dropped.
func actions(p *diff.Plan) []string {
	var out []string
	for _, c := range p.Changes {
		out = append(out, c.Ref.Kind+"/"+c.Ref.Name+" "+string(c.Action))
	}
	return out
}

// normalize replaces what differs between runs: the namespace and the ApplySet ID derived from it.
func normalize(s, ns string, set render.ApplySetRef) string {
	s = strings.ReplaceAll(s, set.ID, "APPLYSET-ID")
	return strings.ReplaceAll(s, ns, "NAMESPACE")
}
