package podexec

import (
	"context"
	"fmt"
	"net"
	"sort"
	"strings"
)

// Transport reaches the buildkitd daemons of one builder node. PodExec is the real one; Direct
// dials daemons by address, for tests and benchmarks.
type Transport interface {
	// Daemons lists the daemons that can take a build now, sorted by name.
	Daemons(ctx context.Context) ([]string, error)
	// Dial opens a connection to the named daemon. Cancelling ctx ends the connection.
	Dial(ctx context.Context, daemon string) (net.Conn, error)
}

// objectNamer is a Transport that names the object behind a daemon in messages, as PodExec
// names a pod Pod/namespace/name.
type objectNamer interface {
	Object(daemon string) string
}

// ObjectOf names daemon for messages: its object where t knows it, else the daemon's name.
func ObjectOf(t Transport, daemon string) string {
	if n, ok := t.(objectNamer); ok {
		return n.Object(daemon)
	}
	return daemon
}

// DaemonGoneError reports that the daemon a connection led to went away (its pod was deleted).
type DaemonGoneError struct {
	// Daemon names the daemon, e.g. Pod/namespace/name.
	Daemon string
}

func (e *DaemonGoneError) Error() string { return e.Daemon + " was deleted during the build" }

// Direct is a Transport to daemons at fixed addresses (unix:// or tcp://), keyed by name.
type Direct map[string]string

// Daemons returns the names of d, sorted.
func (d Direct) Daemons(context.Context) ([]string, error) {
	names := make([]string, 0, len(d))
	for n := range d {
		names = append(names, n)
	}
	sort.Strings(names)
	return names, nil
}

// Dial connects to the daemon's address.
func (d Direct) Dial(ctx context.Context, daemon string) (net.Conn, error) {
	addr, ok := d[daemon]
	if !ok {
		return nil, fmt.Errorf("dial %s: unknown daemon", daemon)
	}
	network, address, ok := strings.Cut(addr, "://")
	if !ok {
		return nil, fmt.Errorf("dial %s: address %q has no scheme", daemon, addr)
	}
	var dialer net.Dialer
	conn, err := dialer.DialContext(ctx, network, address)
	if err != nil {
		return nil, err
	}
	// end the connection with ctx, as an exec session ends
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	return &afterConn{Conn: conn, stop: stop}, nil
}

type afterConn struct {
	net.Conn
	stop func() bool
}

func (c *afterConn) Close() error {
	c.stop()
	return c.Conn.Close()
}
