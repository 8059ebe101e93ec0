package apply

import (
	"context"
	"sync"

	"github.com/fluxcd/cli-utils/pkg/kstatus/polling"
	"github.com/fluxcd/cli-utils/pkg/kstatus/polling/clusterreader"
	"github.com/fluxcd/cli-utils/pkg/kstatus/polling/engine"
	"github.com/fluxcd/cli-utils/pkg/object"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// What bkctl needs each right for: the hint of a refused request (see clusterErr). The verbs and
// resources are those of deploy/rbac.yaml, which tests prove one by one.
const (
	needInventory   = "bkctl needs get on configmaps to read its inventory"
	needList        = "bkctl needs list on every kind its inventory records, to find the members"
	needDryRun      = "bkctl plans by server-side apply dry-runs: patch on every kind it renders, and create where the object does not exist yet"
	needGet         = "bkctl needs get to read an object that exists but is not a member yet"
	needApply       = "bkctl applies with server-side apply: patch on every kind it renders, and create where the object does not exist yet"
	needRecord      = "bkctl needs patch, and create the first time, on configmaps to record its inventory"
	needDropRecord  = "bkctl needs delete on configmaps to remove its inventory"
	needPrune       = "bkctl needs get and delete on every kind it prunes"
	needListClaims  = "bkctl needs list on persistentvolumeclaims to report the claims of a pruned StatefulSet"
	needPruneClaims = "--prune-pvcs needs delete on persistentvolumeclaims"
	needWait        = "bkctl needs list on deployments, statefulsets, replicasets and pods to wait for rollouts (--wait=false skips the wait)"
)

// refused reports whether the API server refused a request for the caller's rights or
// credentials rather than for what was asked.
func refused(err error) bool {
	return apierrors.IsForbidden(err) || apierrors.IsUnauthorized(err)
}

// accessGuard ends a wait as soon as the status poller is refused a read. kstatus turns such an
// error into the status Unknown, which never becomes Current: without the guard, a missing
// right would look like a rollout that takes until the timeout.
type accessGuard struct {
	cancel context.CancelFunc

	mu  sync.Mutex
	err error
}

// poller returns a status poller whose reads report a refusal to g.
func (g *accessGuard) poller(c client.Client) *polling.StatusPoller {
	factory := engine.ClusterReaderFactoryFunc(func(r client.Reader, m meta.RESTMapper, ids object.ObjMetadataSet) (engine.ClusterReader, error) {
		inner, err := clusterreader.NewCachingClusterReader(r, m, ids)
		if err != nil {
			return nil, err
		}
		return &guardedReader{ClusterReader: inner, guard: g}, nil
	})
	return polling.NewStatusPoller(c, c.RESTMapper(), polling.Options{ClusterReaderFactory: factory})
}

// check records the first refused read and cancels the wait.
func (g *accessGuard) check(err error) error {
	if err == nil || !refused(err) {
		return err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.err == nil {
		g.err = err
		g.cancel()
	}
	return err
}

// refusal returns the first refused read, or nil.
func (g *accessGuard) refusal() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.err
}

// guardedReader is kstatus's cluster reader with every read checked by an accessGuard.
type guardedReader struct {
	engine.ClusterReader
	guard *accessGuard
}

func (r *guardedReader) Get(ctx context.Context, key client.ObjectKey, obj *unstructured.Unstructured) error {
	return r.guard.check(r.ClusterReader.Get(ctx, key, obj))
}

func (r *guardedReader) ListNamespaceScoped(ctx context.Context, list *unstructured.UnstructuredList, namespace string, selector labels.Selector) error {
	return r.guard.check(r.ClusterReader.ListNamespaceScoped(ctx, list, namespace, selector))
}

func (r *guardedReader) ListClusterScoped(ctx context.Context, list *unstructured.UnstructuredList, selector labels.Selector) error {
	return r.guard.check(r.ClusterReader.ListClusterScoped(ctx, list, selector))
}
