package podexec

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"time"

	"k8s.io/client-go/tools/remotecommand"
)

// pipeSize is the buffer of each direction of an exec connection: a few of the 32 KiB frames
// the executor copies at a time.
const pipeSize = 256 << 10

// errStreamEnded reports an exec stream that ended before it was established.
var errStreamEnded = errors.New("exec stream ended before it was established")

// execConn is a net.Conn over the stdin and stdout of an exec session. The session ends when
// the context given to dialExec is cancelled: closing stdin is not enough, because some
// runtimes (kwok) never pass the close on to the process.
type execConn struct {
	stdin  *pipe
	stdout *pipe
	ctx    context.Context // ends with the session
	cancel context.CancelFunc
	mu     sync.Mutex
	cause  error // what closed the connection; nil while open
}

// dialExec starts exec's stream and returns once it is established: the executor reads stdin
// only after its streams exist, so the first read of stdin marks the session as up. stderr
// receives what the remote command prints there; when the command fails, the end of what it
// printed is added to the stream's error (buildctl says there why it cannot reach buildkitd).
func dialExec(parent context.Context, exec remotecommand.Executor, stderr io.Writer) (*execConn, error) {
	ctx, cancel := context.WithCancel(parent)
	c := &execConn{stdin: newPipe(pipeSize), stdout: newPipe(pipeSize), ctx: ctx, cancel: cancel}
	ready := make(chan struct{})
	ended := make(chan error, 1)
	tail := &tailBuffer{max: 512}
	go func() {
		err := exec.StreamWithContext(ctx, remotecommand.StreamOptions{
			Stdin:  &firstRead{r: c.stdin, ready: ready},
			Stdout: c.stdout,
			Stderr: io.MultiWriter(stderr, tail),
		})
		if err == nil {
			err = io.EOF
		} else if msg := tail.String(); msg != "" && ctx.Err() == nil {
			err = fmt.Errorf("%w (%s)", err, msg)
		}
		c.stdout.CloseWrite(err) // what the command wrote can still be read
		c.stdin.Close(err)
		ended <- err
		cancel()
	}()
	select {
	case <-ready:
		return c, nil
	case err := <-ended:
		c.Close()
		if err == io.EOF {
			err = errStreamEnded
		}
		return nil, err
	case <-parent.Done(): // not ctx: the stream's end cancels ctx too, with the error in ended
		c.Close()
		return nil, context.Cause(parent)
	}
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = t.b[len(t.b)-t.max:]
	}
	return len(p), nil
}

// String returns the kept bytes as one line.
func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.Join(strings.Fields(string(t.b)), " ")
}

type firstRead struct {
	r     io.Reader
	once  sync.Once
	ready chan struct{}
}

func (f *firstRead) Read(p []byte) (int, error) {
	f.once.Do(func() { close(f.ready) })
	return f.r.Read(p)
}

func (c *execConn) Read(p []byte) (int, error)  { return c.stdout.Read(p) }
func (c *execConn) Write(p []byte) (int, error) { return c.stdin.Write(p) }

// Close ends the exec session.
func (c *execConn) Close() error {
	c.closeWithError(net.ErrClosed)
	return nil
}

// closeWithError makes reads and writes fail with err and ends the session.
func (c *execConn) closeWithError(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cause != nil {
		return
	}
	c.cause = err
	c.stdin.Close(err)
	c.stdout.Close(err)
	c.cancel()
}

// Gone returns the *DaemonGoneError that closed the connection, if its pod went away.
func (c *execConn) Gone() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var gone *DaemonGoneError
	if errors.As(c.cause, &gone) {
		return gone
	}
	return nil
}

func (c *execConn) LocalAddr() net.Addr              { return execAddr{} }
func (c *execConn) RemoteAddr() net.Addr             { return execAddr{} }
func (c *execConn) SetDeadline(time.Time) error      { return nil }
func (c *execConn) SetReadDeadline(time.Time) error  { return nil }
func (c *execConn) SetWriteDeadline(time.Time) error { return nil }

type execAddr struct{}

func (execAddr) Network() string { return "exec" }
func (execAddr) String() string  { return "exec" }
