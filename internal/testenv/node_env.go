package testenv

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// NodeReal is the name of the real node. The API server reaches a node's kubelet at its Hostname
// address, and this one must resolve to the loopback.
const NodeReal = "localhost"

// The node's network: one bridge on a private /24 that no route leads out of. One real node runs
// on a machine at a time (nodeLockFile), so the names are fixed.
const (
	nodeBridge  = "bkctl0"
	nodeSubnet  = "10.244.77.0/24"
	nodeGateway = "10.244.77.1"
)

// node is the real node of an environment started with Options.RealNode.
type node struct {
	dir        string // <run dir>/node
	socket     string // containerd's gRPC socket
	containerd *process
	kubelet    *process
	host       *hostChanges
	lock       *os.File
	forwarder  *forwarder
	stopVols   context.CancelFunc
}

func (n *node) path(elem ...string) string {
	return filepath.Join(append([]string{n.dir}, elem...)...)
}

// nodeLockFile serializes real nodes machine-wide: the kubelet and containerd share directories
// (/var/lib/kubelet/device-plugins, /run/containerd) and cgroups whatever their configuration.
const nodeLockFile = "/run/bkctl-testenv-node.lock"

func lockNode(ctx context.Context) (*os.File, error) {
	f, err := os.OpenFile(nodeLockFile, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return f, nil
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("wait for %s (another real-node environment runs): %w", nodeLockFile, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// startNode runs the real node once the control plane serves: containerd with the node images,
// the kubelet, a provisioner for PersistentVolumeClaims and a forwarder to the registry on the
// pods' bridge. Every machine-wide change is recorded in the run directory before it is made.
func (e *Env) startNode(ctx context.Context, start time.Time, pki *pki) error {
	n := &node{dir: filepath.Join(e.RunDir, "node")}
	n.socket = n.path("containerd.sock")
	if err := os.MkdirAll(n.dir, 0o755); err != nil {
		return err
	}
	lock, err := lockNode(ctx)
	if err != nil {
		return err
	}
	n.lock = lock
	e.node = n
	if n.host, err = recordHost(e.RunDir, nodeBridge); err != nil {
		return err
	}
	if err := n.host.setSysctls(); err != nil {
		return err
	}
	t := time.Now()
	images := make(chan error, 1)
	var tarballs []string
	go func() {
		var cached bool
		var err error
		tarballs, cached, err = ensureNodeImages(e.cacheDir, e.BinDir)
		name := "node images (built)"
		if cached {
			name = "node images (cached)"
		}
		e.phase(name, start, t)
		images <- err
	}()
	if err := e.step(ctx, "containerd serves", time.Minute, e.startContainerd, &n.containerd); err != nil {
		return err
	}
	e.phase("containerd", start, t)
	if err := <-images; err != nil {
		return err
	}
	t = time.Now()
	if err := e.step(ctx, "import the node images", 2*time.Minute, func(ctx context.Context) error {
		return e.importImages(ctx, tarballs)
	}, &n.containerd); err != nil {
		return err
	}
	e.phase("import node images", start, t)
	if n.forwarder, err = e.forwardRegistry(); err != nil {
		return err
	}
	e.NodeRegistry = n.forwarder.addr
	t = time.Now()
	if err := e.step(ctx, "Node/"+NodeReal+" Ready", time.Minute, func(ctx context.Context) error {
		return e.startKubelet(ctx, pki)
	}, &n.kubelet, &n.containerd); err != nil {
		return err
	}
	e.phase("kubelet, Node Ready", start, t)
	vctx, cancel := context.WithCancel(context.Background())
	n.stopVols = cancel
	if err := e.step(ctx, "StorageClass and volume provisioner", 30*time.Second, func(ctx context.Context) error {
		return e.startProvisioner(ctx, vctx)
	}, &e.cp.apiserver); err != nil {
		return err
	}
	return nil
}

// nodeCanary runs one pod on the real node, so that the first sandbox (the CNI bridge, the first
// overlay mounts) is made before tests start.
func (e *Env) nodeCanary(ctx context.Context) error {
	pods := e.clientset.CoreV1().Pods(metav1.NamespaceDefault)
	name := "testenv-node-canary-" + randSuffix()
	var zero int64
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PodSpec{
			TerminationGracePeriodSeconds: &zero,
			Containers: []corev1.Container{{
				Name: "canary", Image: BuildkitImage, ImagePullPolicy: corev1.PullNever,
				Command: []string{"/bin/sh", "-c", "trap 'exit 0' TERM; sleep 600 & wait"},
			}},
		},
	}
	if _, err := pods.Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create Pod/default/%s: %w", name, err)
	}
	err := poll(ctx, 50*time.Millisecond, "Pod/default/"+name+" Ready", func(ctx context.Context) (bool, error) {
		p, err := pods.Get(ctx, name, metav1.GetOptions{})
		return err == nil && podReady(p), err
	})
	if derr := pods.Delete(context.Background(), name, metav1.DeleteOptions{GracePeriodSeconds: &zero}); err == nil && derr != nil {
		err = fmt.Errorf("delete Pod/default/%s: %w", name, derr)
	}
	return err
}

// stopNode ends the kubelet first (so that it starts nothing new), then the containers and their
// shims, then containerd. Reap unmounts what is left and undoes the machine-wide changes.
func (n *node) stop() {
	if n.stopVols != nil {
		n.stopVols()
	}
	if n.forwarder != nil {
		n.forwarder.close()
	}
	if n.kubelet != nil {
		n.kubelet.stop(10 * time.Second)
	}
	// the containers, by their cgroups; then the shims, which run in the bundle dirs below
	// the run directory
	if n.host != nil {
		killCgroups(n.host.Cgroups)
	}
	killInside(n.dir)
	if n.containerd != nil {
		n.containerd.stop(10 * time.Second)
	}
	killInside(n.dir)
}

// startClusterNode is startCluster's second half for a real node: the node instead of kwok.
func (e *Env) startClusterNode(ctx context.Context, start time.Time, pki *pki, controllers <-chan error) error {
	if err := e.startNode(ctx, start, pki); err != nil {
		return err
	}
	if err := <-controllers; err != nil {
		return err
	}
	t := time.Now()
	if err := e.step(ctx, "ServiceAccount/default/default", time.Minute, func(ctx context.Context) error {
		return e.waitServiceAccount(ctx, metav1.NamespaceDefault)
	}, &e.cp.controllerManager, &e.cp.apiserver); err != nil {
		return err
	}
	e.phase("default ServiceAccount", start, t)
	t = time.Now()
	if err := e.step(ctx, "canary pod Ready on Node/"+NodeReal, 2*time.Minute, e.nodeCanary,
		&e.node.kubelet, &e.node.containerd, &e.cp.scheduler); err != nil {
		return err
	}
	e.phase("canary pod Ready on the real node", start, t)
	return nil
}

// nodeBinaries and nodeTools are what a real node needs beyond the kwok tier.
var (
	nodeBinaries = []string{"kubelet", "rootlesskit"}
	nodeTools    = []string{
		"/usr/bin/containerd", "/usr/bin/ctr", "/usr/bin/containerd-shim-runc-v2",
		"/usr/lib/cni/bridge", "/usr/lib/cni/host-local", "/usr/lib/cni/loopback",
		"/usr/bin/newuidmap", "/usr/bin/newgidmap", "/usr/sbin/ip",
	}
)

func checkNodeInstalled(binDir string) error {
	var missing []string
	for _, b := range nodeBinaries {
		if _, err := os.Stat(filepath.Join(binDir, b)); err != nil {
			missing = append(missing, filepath.Join(binDir, b)+" (hint: run `make testbin`)")
		}
	}
	for _, t := range nodeTools {
		if _, err := os.Stat(t); err != nil {
			missing = append(missing, t+" (hint: run `make testdeps-node` as root)")
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w: the real node needs %s", ErrMissing, strings.Join(missing, ", "))
	}
	return nil
}
