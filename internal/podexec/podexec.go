package podexec

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/url"
	"slices"
	"sort"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/remotecommand"
)

// PodExec is the Transport to the pods of a node: it execs `buildctl dial-stdio` in their
// buildkitd container, as docker buildx's kubernetes driver does.
type PodExec struct {
	Config *rest.Config
	Client kubernetes.Interface
	// Namespace and Node select the pods: label app=<Node> in Namespace.
	Namespace string
	Node      string
	// Container runs Command; the defaults are buildkitd and buildctl dial-stdio.
	Container string
	Command   []string
	// Stderr receives what the command prints on its stderr; nil discards it.
	Stderr io.Writer
	// Protocol streams the sessions; the zero value is ExecAuto.
	Protocol ExecProtocol
}

// ExecProtocol is the streaming protocol of exec sessions.
type ExecProtocol string

// The exec protocols. Since Kubernetes 1.30 the API server translates a websocket session into
// SPDY toward the kubelet, which costs it about three times the CPU of passing SPDY through
// (0.9–1.2 against 0.25–0.4 CPU seconds per 100 MB of build context, BenchmarkTransport), CPU
// that small clusters share with the builds; so SPDY comes first.
const (
	// ExecAuto tries SPDY and, when that fails before the session starts (a proxy that passes
	// only websockets, an API server without SPDY), websocket.
	ExecAuto ExecProtocol = ""
	// ExecSPDY uses SPDY only.
	ExecSPDY ExecProtocol = "spdy"
	// ExecWebSocket uses websocket (v5) only.
	ExecWebSocket ExecProtocol = "websocket"
)

// NewPodExec returns the transport to the pods of node in namespace.
func NewPodExec(cfg *rest.Config, namespace, node string) (*PodExec, error) {
	c, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	return &PodExec{Config: cfg, Client: c, Namespace: namespace, Node: node,
		Container: "buildkitd", Command: []string{"buildctl", "dial-stdio"}}, nil
}

// Daemons returns the names of the node's pods that are Running, Ready and not terminating.
func (p *PodExec) Daemons(ctx context.Context) ([]string, error) {
	sel := labels.Set{"app": p.Node}.AsSelector().String()
	list, err := p.Client.CoreV1().Pods(p.Namespace).List(ctx, metav1.ListOptions{LabelSelector: sel})
	if err != nil {
		if refused(err) {
			err = &RefusedError{Err: err, Need: "bkctl needs list on pods to find a node's pods"}
		}
		return nil, fmt.Errorf("list pods %s in %s: %w", sel, p.Namespace, err)
	}
	var names []string
	for i := range list.Items {
		if podUsable(&list.Items[i]) {
			names = append(names, list.Items[i].Name)
		}
	}
	sort.Strings(names)
	return names, nil
}

// Object names the pod for messages: Pod/namespace/name.
func (p *PodExec) Object(pod string) string { return "Pod/" + p.Namespace + "/" + pod }

func podUsable(pod *corev1.Pod) bool {
	if pod.DeletionTimestamp != nil || pod.Status.Phase != corev1.PodRunning {
		return false
	}
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// Dial execs the command in the pod, over SPDY first and over websocket where SPDY is refused,
// unless Protocol picks one. When the pod is deleted, the connection fails with a
// *DaemonGoneError.
func (p *PodExec) Dial(ctx context.Context, pod string) (net.Conn, error) {
	u := p.Client.CoreV1().RESTClient().Post().
		Namespace(p.Namespace).Resource("pods").Name(pod).SubResource("exec").
		VersionedParams(&corev1.PodExecOptions{
			Container: p.Container,
			Command:   p.Command,
			Stdin:     true,
			Stdout:    true,
			Stderr:    true,
		}, scheme.ParameterCodec).URL()
	stderr := p.Stderr
	if stderr == nil {
		stderr = io.Discard
	}
	protocols := []ExecProtocol{p.Protocol}
	if p.Protocol == ExecAuto {
		protocols = []ExecProtocol{ExecSPDY, ExecWebSocket}
	}
	var errs []error
	for _, proto := range protocols {
		exec, err := p.executor(proto, u)
		if err != nil {
			return nil, fmt.Errorf("exec Pod/%s/%s: %w", p.Namespace, pod, err)
		}
		conn, err := dialExec(ctx, exec, stderr)
		if err == nil {
			go p.watchGone(conn, pod)
			return conn, nil
		}
		if len(protocols) > 1 {
			err = fmt.Errorf("%s: %w", proto, err)
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	var err error = joinErrors(errs)
	if slices.ContainsFunc(errs, execRefused) {
		err = &RefusedError{Err: err, Need: "bkctl needs create on pods/exec to reach buildkitd, as docker buildx does, and get too where only websockets pass"}
	}
	return nil, fmt.Errorf("exec Pod/%s/%s: %w", p.Namespace, pod, err)
}

// executor returns the executor of proto for the exec request at u.
func (p *PodExec) executor(proto ExecProtocol, u *url.URL) (remotecommand.Executor, error) {
	switch proto {
	case ExecSPDY:
		return remotecommand.NewSPDYExecutor(p.Config, "POST", u)
	case ExecWebSocket:
		return remotecommand.NewWebSocketExecutor(p.Config, "GET", u.String())
	}
	return nil, fmt.Errorf("unknown exec protocol %q (want %q or %q)", proto, ExecSPDY, ExecWebSocket)
}

// watchGone fails the connection as soon as its pod starts terminating, instead of waiting for
// the daemon to go away with it.
func (p *PodExec) watchGone(c *execConn, pod string) {
	ctx, cancel := context.WithCancel(c.ctx) // the connection's end stops the watch
	defer cancel()
	w, err := p.Client.CoreV1().Pods(p.Namespace).Watch(ctx, metav1.ListOptions{
		FieldSelector: fields.OneTermEqualSelector("metadata.name", pod).String(),
	})
	if err != nil {
		return
	}
	defer w.Stop()
	gone := &DaemonGoneError{Daemon: p.Object(pod)}
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-w.ResultChan():
			if !ok {
				return
			}
			obj, _ := ev.Object.(*corev1.Pod)
			if ev.Type == watch.Deleted || (obj != nil && obj.DeletionTimestamp != nil) {
				c.closeWithError(gone)
				return
			}
		}
	}
}
