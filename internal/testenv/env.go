package testenv

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// Env is a running test environment: a Kubernetes 1.37 control plane with the kwok nodes
// NodeAMD64 and NodeARM64, a registry, and one buildkitd for every pod on those nodes.
type Env struct {
	// Kubeconfig is the path of an admin kubeconfig for the cluster.
	Kubeconfig string `json:"kubeconfig"`
	// Config is the admin client configuration read from Kubeconfig.
	Config *rest.Config `json:"-"`
	// Registry is the host:port of a plain-HTTP registry on 127.0.0.1 that every buildkitd of the
	// environment may push to.
	Registry string `json:"registry"`
	// BaseLayout is the directory of an OCI layout holding a busybox image for linux/amd64 and
	// linux/arm64, shared by all environments of this user (do not write to it).
	BaseLayout string `json:"baseLayout"`
	// BaseDigest is the digest of the base image's index in BaseLayout, for a named build context
	// `context:base=oci-layout://base@<BaseDigest>` with BaseLayout as the OCI store "base".
	BaseDigest string `json:"baseDigest"`
	// BinDir holds the test binaries (kubectl, buildctl, …).
	BinDir string `json:"binDir"`
	// RunDir is the environment's private directory: logs, state, sockets.
	RunDir string `json:"runDir"`
	// Owner is the process that started the environment and stops it.
	Owner ProcessID `json:"owner"`
	// Phases are the measured startup phases, in the order they ended.
	Phases []Phase `json:"phases"`
	// NodeRegistry is Registry as the pods of a real node reach it (on their bridge); "" without
	// a real node.
	NodeRegistry string `json:"nodeRegistry,omitempty"`

	owned          bool
	realNode       bool
	cacheDir       string
	node           *node
	kwokKubeconfig string
	linger         time.Duration
	log            io.Writer
	run            *runDir
	clientset      kubernetes.Interface
	dynamic        dynamic.Interface

	cp         controlPlane
	kwok       *process
	registry   *process
	mapper     *mapper
	lazy       *lazyStarter
	stopMapper context.CancelFunc
	cancel     context.CancelFunc

	phaseMu  sync.Mutex
	faultMu  sync.Mutex // StopAPIServer and StartAPIServer
	stopOnce sync.Once
	stopErr  error
}

// Phase is the time one startup phase took.
type Phase struct {
	Name string `json:"name"`
	// Took is how long the phase itself ran.
	Took time.Duration `json:"took"`
	// At is when it ended, from the start of Start.
	At time.Duration `json:"at"`
}

// Options configure Start.
type Options struct {
	// Log receives progress and timings. Nil discards them.
	Log io.Writer
	// RunParent is where the run directory is made and stale ones are reaped; "" is RunParent().
	RunParent string
	// DaemonLinger is how long a deleted pod's buildkitd keeps running, so that a pod recreated
	// under the same name (a StatefulSet's) finds its daemon and cache again.
	DaemonLinger time.Duration
	// RealNode replaces the kwok nodes and their host buildkitds with one real node, NodeReal:
	// a kubelet with a private containerd, runc and a CNI bridge, whose pods run the images
	// that the rendered objects name (see node_env.go for what it changes on the machine).
	RealNode bool
}

// DefaultOptions returns the options Main uses.
func DefaultOptions() Options {
	return Options{DaemonLinger: 5 * time.Second}
}

// Start starts an environment in a fresh run directory, on free ports of 127.0.0.1, and returns
// once a canary pod is Ready with its buildkitd answering. It first reaps the run directories of
// environments whose owner died. The caller must call Stop.
func Start(ctx context.Context, opts Options) (_ *Env, err error) {
	start := time.Now()
	e := &Env{owned: true, log: opts.Log, linger: opts.DaemonLinger, lazy: newLazyStarter(), realNode: opts.RealNode}
	if e.log == nil {
		e.log = io.Discard
	}
	if e.linger <= 0 {
		e.linger = DefaultOptions().DaemonLinger
	}
	if e.BinDir, err = BinDir(); err != nil {
		return nil, err
	}
	cacheDir, err := CacheDir()
	if err != nil {
		return nil, err
	}
	e.cacheDir = cacheDir
	if err := checkInstalled(e.BinDir, cacheDir); err != nil {
		return nil, err
	}
	if e.realNode {
		if err := checkNodeInstalled(e.BinDir); err != nil {
			return nil, err
		}
	}
	parent := opts.RunParent
	if parent == "" {
		parent = RunParent()
	}
	reaped, err := ReapStale(parent)
	if err != nil {
		return nil, fmt.Errorf("reap stale environments: %w", err)
	}
	for _, d := range reaped {
		fmt.Fprintf(e.log, "testenv: reaped stale %s\n", d)
	}
	if e.run, err = newRunDir(parent); err != nil {
		return nil, fmt.Errorf("make run dir: %w", err)
	}
	e.RunDir, e.Owner = e.run.path, e.run.state.Owner
	defer func() {
		if err != nil {
			fmt.Fprintf(e.log, "testenv: start failed, logs were in %s\n", e.RunDir)
			_ = e.Stop()
		}
	}()
	fmt.Fprintf(e.log, "testenv: starting in %s\n", e.RunDir)
	e.phase("run dir", start, start)

	port, err := freePort()
	if err != nil {
		return nil, err
	}
	e.Registry = fmt.Sprintf("127.0.0.1:%d", port)

	ctx, cancel := context.WithCancel(ctx)
	e.cancel = cancel
	errs := make(chan error, 3)
	go func() {
		t := time.Now()
		err := e.startRegistry(ctx)
		e.phase("registry", start, t)
		if err == nil {
			t = time.Now()
			var cached bool
			cached, err = e.ensureBaseImage(ctx, cacheDir)
			name := "base image (built)"
			if cached {
				name = "base image (cached)"
			}
			e.phase(name, start, t)
		}
		errs <- err
	}()
	go func() {
		if e.realNode {
			errs <- nil // the real node is amd64 only: no emulation
			return
		}
		t := time.Now()
		err := enableQEMU()
		e.phase("binfmt qemu-aarch64", start, t)
		errs <- err
	}()
	go func() { errs <- e.startCluster(ctx, start) }()
	var all []error
	for range 3 {
		if err := <-errs; err != nil {
			all = append(all, err)
			cancel() // let the others give up
		}
	}
	if err := errors.Join(all...); err != nil {
		return nil, err
	}
	if err := e.Save(filepath.Join(e.RunDir, "env.json")); err != nil {
		return nil, err
	}
	fmt.Fprintf(e.log, "testenv: ready in %.2fs\n", time.Since(start).Seconds())
	return e, nil
}

// startCluster runs the control plane and kwok, starts the pod-to-buildkitd mapper, and waits for
// a canary pod.
func (e *Env) startCluster(ctx context.Context, start time.Time) error {
	t := time.Now()
	pki, err := newPKI(filepath.Join(e.RunDir, "pki"))
	if err != nil {
		return fmt.Errorf("make certificates: %w", err)
	}
	e.phase("certificates", start, t)
	t = time.Now()
	var etcd string
	if err := e.step(ctx, "etcd healthy", time.Minute, func(ctx context.Context) (err error) {
		etcd, err = e.startEtcd(ctx)
		return err
	}, &e.cp.etcd); err != nil {
		return err
	}
	e.phase("etcd", start, t)
	t = time.Now()
	if err := e.step(ctx, "kube-apiserver /readyz", 2*time.Minute, func(ctx context.Context) error {
		return e.startAPIServer(ctx, etcd, pki)
	}, &e.cp.apiserver, &e.cp.etcd); err != nil {
		return err
	}
	e.phase("kube-apiserver", start, t)
	e.Kubeconfig = filepath.Join(e.RunDir, "kubeconfig")
	if err := pki.writeKubeconfig(e.Kubeconfig, e.cp.server); err != nil {
		return err
	}
	e.kwokKubeconfig = filepath.Join(e.RunDir, "kwok.kubeconfig")
	if err := pki.writeKwokKubeconfig(e.kwokKubeconfig, e.cp.server); err != nil {
		return err
	}
	if err := e.connect(); err != nil {
		return err
	}

	t = time.Now()
	controllers := make(chan error, 1)
	go func() {
		err := e.step(ctx, "kube-controller-manager and kube-scheduler /healthz", time.Minute, func(ctx context.Context) error {
			return e.startControllers(ctx, pki)
		}, &e.cp.controllerManager, &e.cp.scheduler)
		e.phase("controller-manager, scheduler", start, t)
		controllers <- err
	}()
	if e.realNode {
		return e.startClusterNode(ctx, start, pki, controllers)
	}
	if err := e.step(ctx, "kwok's Exec CRD Established", time.Minute, e.installExecCRD, &e.cp.apiserver); err != nil {
		return err
	}
	if err := e.step(ctx, "apply the admission policy for kwok's pod deletes", 30*time.Second, e.applyKwokDeletePolicy, &e.cp.apiserver); err != nil {
		return err
	}
	if err := e.step(ctx, "kwok /healthz", time.Minute, e.startKwok, &e.kwok); err != nil {
		return err
	}
	if err := e.step(ctx, "create kwok nodes", 30*time.Second, e.createNodes, &e.cp.apiserver); err != nil {
		return err
	}
	e.mapper = newMapper(e, e.log, e.linger)
	// the mapper outlives ctx, which only bounds the start; Stop ends it
	mctx, cancel := context.WithCancel(context.Background())
	e.stopMapper = cancel
	if err := e.step(ctx, "sync the mapper's pod informer", 30*time.Second, func(ctx context.Context) error {
		return e.mapper.run(mctx, ctx)
	}, &e.cp.apiserver); err != nil {
		return err
	}
	if err := e.step(ctx, "kwok nodes Ready", time.Minute, e.waitNodesReady, &e.kwok, &e.cp.apiserver); err != nil {
		return err
	}
	e.phase("kwok nodes Ready", start, t)
	if err := <-controllers; err != nil {
		return err
	}
	t = time.Now()
	if err := e.step(ctx, "ServiceAccount/default/default", time.Minute, func(ctx context.Context) error {
		return e.waitServiceAccount(ctx, metav1.NamespaceDefault)
	}, &e.cp.controllerManager, &e.cp.apiserver); err != nil {
		return err
	}
	e.phase("default ServiceAccount", start, t)
	t = time.Now()
	if err := e.canary(ctx); err != nil {
		return err
	}
	e.phase("canary pod Ready, exec reaches buildkitd", start, t)
	return nil
}

// step runs f with a timeout of its own, so that no wait of Start hangs on a context without a
// deadline. A failure names what it waited for and carries the tail of the logs that tell why.
func (e *Env) step(ctx context.Context, what string, timeout time.Duration, f func(context.Context) error, logs ...**process) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	err := f(ctx)
	if err == nil {
		return nil
	}
	var b strings.Builder
	for _, pp := range logs {
		if p := *pp; p != nil {
			fmt.Fprintf(&b, "\n--- last lines of %s:\n%s", p.log, tail(p.log, 15))
		}
	}
	return fmt.Errorf("%s (timeout %s): %w%s", what, timeout, err, b.String())
}

func (e *Env) connect() error {
	cfg, err := clientcmd.BuildConfigFromFlags("", e.Kubeconfig)
	if err != nil {
		return fmt.Errorf("load kubeconfig: %w", err)
	}
	cfg.QPS, cfg.Burst = 200, 400 // a private cluster: no reason to throttle tests client-side
	e.Config = cfg
	if e.clientset, err = kubernetes.NewForConfig(cfg); err != nil {
		return err
	}
	e.dynamic, err = dynamic.NewForConfig(cfg)
	return err
}

func (e *Env) phase(name string, start, t time.Time) {
	e.phaseMu.Lock()
	defer e.phaseMu.Unlock()
	p := Phase{Name: name, Took: time.Since(t), At: time.Since(start)}
	e.Phases = append(e.Phases, p)
	fmt.Fprintf(e.log, "testenv: %-40s %6.2fs (at %.2fs)\n", name, p.Took.Seconds(), p.At.Seconds())
}

// Save writes the environment's description to path, for Load in another process.
func (e *Env) Save(path string) error {
	e.phaseMu.Lock()
	b, err := json.MarshalIndent(e, "", "  ")
	e.phaseMu.Unlock()
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// Read reads the description that Save wrote, without connecting to the environment.
func Read(path string) (*Env, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read test environment: %w", err)
	}
	e := &Env{log: io.Discard}
	if err := json.Unmarshal(b, e); err != nil {
		return nil, fmt.Errorf("read test environment %s: %w", path, err)
	}
	return e, nil
}

// Load attaches to an environment that another process started and described with Save (the
// supervisor of `go run ./hack/testenv up`). Stop of a loaded environment does nothing.
func Load(path string) (*Env, error) {
	e, err := Read(path)
	if err != nil {
		return nil, err
	}
	if !e.Owner.Alive() {
		return nil, fmt.Errorf("load test environment %s: its owner (pid %d) is gone (hint: run `go run ./hack/testenv up` again)", path, e.Owner.PID)
	}
	if err := e.connect(); err != nil {
		return nil, err
	}
	return e, nil
}

// Stop stops every process of the environment, unmounts what buildkitd mounted and removes the
// run directory. It is safe to call more than once.
func (e *Env) Stop() error {
	if !e.owned {
		return nil
	}
	e.stopOnce.Do(func() {
		if e.cancel != nil {
			e.cancel()
		}
		if e.stopMapper != nil {
			e.stopMapper()
		}
		var wg sync.WaitGroup
		for _, p := range []*process{e.kwok, e.registry} {
			if p != nil {
				wg.Go(func() { p.stop(5 * time.Second) })
			}
		}
		if e.mapper != nil {
			wg.Go(e.mapper.stop)
		}
		if e.node != nil {
			wg.Go(e.node.stop)
		}
		wg.Wait()
		for _, p := range []*process{e.cp.controllerManager, e.cp.scheduler} {
			if p != nil {
				wg.Go(func() { p.stop(5 * time.Second) })
			}
		}
		wg.Wait()
		for _, p := range []*process{e.cp.apiserver, e.cp.etcd} {
			if p != nil {
				p.stop(10 * time.Second)
			}
		}
		e.lazy.stop()
		if e.RunDir != "" {
			e.stopErr = Reap(e.RunDir)
		}
		if e.node != nil && e.node.lock != nil {
			e.node.lock.Close() // after Reap undid the machine-wide changes
		}
	})
	return e.stopErr
}
