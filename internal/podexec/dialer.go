package podexec

import (
	"context"
	"errors"
	"net"
	"sync"

	"github.com/moby/buildkit/client"
)

// DaemonDialer connects BuildKit clients to one daemon through a Transport. It keeps what the
// client's gRPC layer would reduce to text: the connections it made (to close them, and to ask
// whether the daemon went away) and the first dial that the API server refused.
type DaemonDialer struct {
	Transport Transport
	Daemon    string

	mu      sync.Mutex
	conns   []net.Conn
	refusal error
}

// NewClient returns a BuildKit client whose connections d dials while ctx lasts.
func (d *DaemonDialer) NewClient(ctx context.Context) (*client.Client, error) {
	return client.New(ctx, "", client.WithContextDialer(func(context.Context, string) (net.Conn, error) {
		conn, err := d.Transport.Dial(ctx, d.Daemon)
		d.mu.Lock()
		defer d.mu.Unlock()
		var r *RefusedError
		switch {
		case err == nil:
			d.conns = append(d.conns, conn)
		case d.refusal == nil && errors.As(err, &r):
			d.refusal = err
		}
		return conn, err
	}))
}

// Refusal returns the first dial that the API server refused, or nil.
func (d *DaemonDialer) Refusal() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.refusal
}

// Close closes every connection d made.
func (d *DaemonDialer) Close() {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, c := range d.conns {
		_ = c.Close()
	}
}

// Gone returns the error of a connection whose daemon went away, if any did.
func (d *DaemonDialer) Gone() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, c := range d.conns {
		if g, ok := c.(interface{ Gone() error }); ok {
			if err := g.Gone(); err != nil {
				return err
			}
		}
	}
	return nil
}
