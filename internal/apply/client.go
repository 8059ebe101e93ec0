// Package apply is the cluster side of bkctl: server-side apply dry-runs for a plan, server-side
// apply, the ApplySet inventory and prune, and waiting for rollouts, on top of fluxcd/pkg/ssa.
package apply

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/fluxcd/pkg/ssa"
	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"
	appsv1client "k8s.io/client-go/kubernetes/typed/apps/v1"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
)

// ClientOptions select a cluster the way kubectl does.
type ClientOptions struct {
	// Kubeconfig is an explicit kubeconfig file; "" uses KUBECONFIG, then ~/.kube/config.
	Kubeconfig string
	// Context overrides the kubeconfig's current context.
	Context string
	// WrapTransport, when set, wraps the HTTP transport (tests count requests with it).
	WrapTransport func(http.RoundTripper) http.RoundTripper
}

// Client-side rate limits: kubectl's defaults (5 QPS) would throttle a plan of a hundred
// dry-runs to seconds; the API server's own priority and fairness protects it.
const (
	defaultQPS   = 200
	defaultBurst = 400
)

// RESTConfig loads the client configuration with client-go's loading rules: --kubeconfig, else
// KUBECONFIG, else ~/.kube/config, with --context overriding the current context.
func RESTConfig(opts ClientOptions) (*rest.Config, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if opts.Kubeconfig != "" {
		if _, err := os.Stat(opts.Kubeconfig); err != nil {
			return nil, fmt.Errorf("load kubeconfig: %w", err)
		}
		rules.ExplicitPath = opts.Kubeconfig
	}
	overrides := &clientcmd.ConfigOverrides{CurrentContext: opts.Context}
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, overrides).ClientConfig()
	switch {
	case err == nil:
	case opts.Context != "" && (clientcmd.IsContextNotFound(err) || strings.Contains(err.Error(), fmt.Sprintf("context %q", opts.Context))):
		return nil, fmt.Errorf("load kubeconfig: context %q not found (hint: kubectl config get-contexts)", opts.Context)
	case clientcmd.IsEmptyConfig(err):
		return nil, errors.New("load kubeconfig: no cluster configured (hint: set KUBECONFIG or pass --kubeconfig)")
	default:
		return nil, fmt.Errorf("load kubeconfig: %w", err)
	}
	if opts.WrapTransport != nil {
		cfg.Wrap(opts.WrapTransport)
	}
	return cfg, nil
}

// ManagerOptions configure a Manager.
type ManagerOptions struct {
	// FieldManager is the server-side apply field manager of every write.
	FieldManager string
	// Tooling is the ApplySet tooling annotation value, "bkctl/<version>".
	Tooling string
	// Concurrency bounds the requests in flight during a plan.
	Concurrency int
}

// DefaultManagerOptions returns field manager "bkctl", tooling "bkctl/devel" and 16 requests
// in flight.
func DefaultManagerOptions() ManagerOptions {
	return ManagerOptions{FieldManager: "bkctl", Tooling: "bkctl/devel", Concurrency: 16}
}

// Manager plans and applies builders files on one cluster.
type Manager struct {
	opts   ManagerOptions
	host   string
	client client.Client
	ssa    *ssa.ResourceManager
	owner  ssa.Owner
	// apps and core are typed clients that speak protobuf, for the wait's lists and watches.
	apps appsv1client.AppsV1Interface
	core corev1client.CoreV1Interface
	// reached is set once the server answered a request: an unreachable server is then
	// restarting or overloaded, not a wrong kubeconfig.
	reached atomic.Bool
}

// NewManager returns a Manager for the cluster of cfg. It sends no request: the kinds bkctl
// renders are mapped statically, so no discovery is needed.
func NewManager(cfg *rest.Config, opts ManagerOptions) (*Manager, error) {
	cfg = rest.CopyConfig(cfg)
	if cfg.QPS == 0 {
		cfg.QPS, cfg.Burst = defaultQPS, defaultBurst
	}
	if opts.Concurrency < 1 {
		opts.Concurrency = 1
	}
	// controller-runtime warns on stderr, with a stack trace, when its global logger was never
	// set; a CLI has no use for its logs.
	setLoggerOnce.Do(func() { ctrllog.SetLogger(logr.Discard()) })
	m := &Manager{opts: opts, host: cfg.Host}
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper {
		return roundTripperFunc(func(r *http.Request) (*http.Response, error) {
			resp, err := rt.RoundTrip(r)
			if err == nil {
				m.reached.Store(true)
			}
			return resp, err
		})
	})
	mapper := staticMapper()
	c, err := client.New(cfg, client.Options{Mapper: mapper})
	if err != nil {
		return nil, fmt.Errorf("make client for %s: %w", cfg.Host, err)
	}
	m.owner = ssa.Owner{Field: opts.FieldManager, Group: "bkctl.dev"}
	m.client = c
	// ssa is used to delete only: its poller, for its own waits, is never needed.
	m.ssa = ssa.NewResourceManager(c, nil, m.owner)
	m.ssa.SetConcurrency(opts.Concurrency)
	pcfg := rest.CopyConfig(cfg)
	pcfg.ContentType = "application/vnd.kubernetes.protobuf"
	pcfg.AcceptContentTypes = "application/vnd.kubernetes.protobuf,application/json"
	if m.apps, err = appsv1client.NewForConfig(pcfg); err != nil {
		return nil, fmt.Errorf("make client for %s: %w", cfg.Host, err)
	}
	if m.core, err = corev1client.NewForConfig(pcfg); err != nil {
		return nil, fmt.Errorf("make client for %s: %w", cfg.Host, err)
	}
	return m, nil
}

type roundTripperFunc func(*http.Request) (*http.Response, error)

func (f roundTripperFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

var setLoggerOnce sync.Once

// staticMapper maps the kinds bkctl renders, owns or reads while waiting.
func staticMapper() meta.RESTMapper {
	core := schema.GroupVersion{Version: "v1"}
	apps := schema.GroupVersion{Group: "apps", Version: "v1"}
	m := meta.NewDefaultRESTMapper([]schema.GroupVersion{core, apps})
	m.Add(core.WithKind("Namespace"), meta.RESTScopeRoot)
	for _, k := range []string{"ConfigMap", "Pod", "PersistentVolumeClaim", "Secret", "Service"} {
		m.Add(core.WithKind(k), meta.RESTScopeNamespace)
	}
	for _, k := range []string{"Deployment", "StatefulSet", "ReplicaSet", "ControllerRevision"} {
		m.Add(apps.WithKind(k), meta.RESTScopeNamespace)
	}
	return m
}
