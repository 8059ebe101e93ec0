package testenv_test

import (
	"context"
	"io"
	"net"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/httpstream"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/remotecommand"

	"github.com/bkctl/bkctl/internal/testenv"
)

// transport picks how the exec stream is carried.
type transport string

const (
	websocketOrSPDY transport = "websocket-or-spdy" // what kubectl does: websocket, SPDY if refused
	spdyOnly        transport = "spdy"
)

// execConn runs `buildctl dial-stdio` in the pod's buildkitd container and returns the session
// as a net.Conn. Closing it cancels the exec: kwok does not pass on the end of stdin.
func execConn(cfg *rest.Config, namespace, pod string, tr transport) (net.Conn, error) {
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	req := cs.CoreV1().RESTClient().Post().Resource("pods").Namespace(namespace).Name(pod).
		SubResource("exec").VersionedParams(&corev1.PodExecOptions{
		Container: "buildkitd",
		Command:   []string{"buildctl", "dial-stdio"},
		Stdin:     true, Stdout: true, Stderr: true,
	}, scheme.ParameterCodec)
	spdy, err := remotecommand.NewSPDYExecutor(cfg, "POST", req.URL())
	if err != nil {
		return nil, err
	}
	exe := spdy
	if tr == websocketOrSPDY {
		ws, err := remotecommand.NewWebSocketExecutor(cfg, "GET", req.URL().String())
		if err != nil {
			return nil, err
		}
		exe, err = remotecommand.NewFallbackExecutor(ws, spdy, func(err error) bool {
			return httpstream.IsUpgradeFailure(err) || httpstream.IsHTTPSProxyError(err)
		})
		if err != nil {
			return nil, err
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	c := &streamConn{r: outR, w: inW, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(c.done)
		err := exe.StreamWithContext(ctx, remotecommand.StreamOptions{Stdin: inR, Stdout: outW, Stderr: &c.stderr})
		if err == nil {
			err = io.EOF
		}
		outW.CloseWithError(err)
		inR.CloseWithError(err)
	}()
	return c, nil
}

// streamConn is a net.Conn over the stdin and stdout of an exec session.
type streamConn struct {
	r      *io.PipeReader
	w      *io.PipeWriter
	stderr testenv.Buffer
	cancel context.CancelFunc
	done   chan struct{}
	once   sync.Once
}

func (c *streamConn) Read(b []byte) (int, error)  { return c.r.Read(b) }
func (c *streamConn) Write(b []byte) (int, error) { return c.w.Write(b) }

func (c *streamConn) Close() error {
	c.once.Do(func() {
		c.cancel()
		c.w.Close()
		c.r.Close()
		<-c.done
	})
	return nil
}

func (c *streamConn) LocalAddr() net.Addr              { return execAddr{} }
func (c *streamConn) RemoteAddr() net.Addr             { return execAddr{} }
func (c *streamConn) SetDeadline(time.Time) error      { return nil }
func (c *streamConn) SetReadDeadline(time.Time) error  { return nil }
func (c *streamConn) SetWriteDeadline(time.Time) error { return nil }

type execAddr struct{}

func (execAddr) Network() string { return "pod-exec" }
func (execAddr) String() string  { return "pod-exec" }
