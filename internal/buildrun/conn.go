package buildrun

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"

	"github.com/moby/buildkit/client"
	"github.com/moby/buildkit/util/grpcerrors"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
	"google.golang.org/grpc/codes"

	"github.com/bkctl/bkctl/internal/podexec"
)

// daemonConn is a BuildKit client connected to one daemon of a node.
type daemonConn struct {
	daemon  string
	client  *client.Client
	workers []ocispecs.Platform
	cancel  context.CancelFunc
	dialer  *podexec.DaemonDialer
	shared  bool // a bake's connection (connPool), closed with the pool
}

// connect chooses a daemon of node n and connects to it, asking for its workers to know it
// answers. A failed attempt is retried with backoff on another daemon where there is one. Its
// errors do not name the node: the caller does.
func (r *run) connect(ctx context.Context, n Node, avoid map[string]bool) (*daemonConn, error) {
	var last error
	for attempt := range r.opts.Attempts {
		if attempt > 0 && !r.sleep(ctx, attempt) {
			return nil, errors.Join(last, context.Cause(ctx))
		}
		p := r.opts.Pinned[n.Name]
		daemons := []string{p} // a bake's pin: its daemons were listed a moment ago
		if attempt > 0 || r.opts.pool == nil || p == "" || avoid[p] {
			var err error
			if daemons, err = n.Transport.Daemons(ctx); err != nil {
				return nil, err // the API server answered with an error: not a pod's fault
			}
		}
		d, err := Choose(daemons, n.Loadbalance, r.stickyKey, avoid)
		if p != "" && !avoid[p] && slices.Contains(daemons, p) {
			d, err = p, nil
		}
		if errors.Is(err, ErrNoDaemon) && len(daemons) > 0 {
			clear(avoid) // every pod failed once: try them again rather than give up
			d, err = Choose(daemons, n.Loadbalance, r.stickyKey, avoid)
		}
		if err != nil {
			last = err
			continue
		}
		var dc *daemonConn
		if r.opts.pool != nil {
			dc, err = r.opts.pool.get(ctx, n, d)
		} else {
			dc, err = dialDaemon(ctx, n.Transport, d)
		}
		if err == nil {
			return dc, nil
		}
		last = fmt.Errorf("connect to %s: %w", podexec.ObjectOf(n.Transport, d), err)
		var refusal *podexec.RefusedError
		if errors.As(err, &refusal) {
			return nil, last // the same rights are missing for every pod
		}
		avoid[d] = true
		r.notice("node %s: %v (attempt %d of %d)", n.Name, last, attempt+1, r.opts.Attempts)
	}
	return nil, last
}

func dialDaemon(ctx context.Context, t podexec.Transport, daemon string) (*daemonConn, error) {
	cctx, cancel := context.WithCancel(ctx)
	dc := &daemonConn{daemon: daemon, cancel: cancel, dialer: &podexec.DaemonDialer{Transport: t, Daemon: daemon}}
	c, err := dc.dialer.NewClient(cctx)
	if err != nil {
		cancel()
		return nil, err
	}
	dc.client = c
	ws, err := c.ListWorkers(cctx)
	if err != nil {
		dc.close()
		if gone := dc.gone(); gone != nil {
			return nil, gone
		}
		if refusal := dc.dialer.Refusal(); refusal != nil {
			return nil, refusal // gRPC keeps only the text of a dial error
		}
		return nil, fmt.Errorf("buildkitd does not answer: %w", err)
	}
	for _, w := range ws {
		dc.workers = append(dc.workers, w.Platforms...)
	}
	return dc, nil
}

// close ends the client and the transport's sessions, unless the connection is a bake's shared
// one.
func (dc *daemonConn) close() {
	if dc.shared {
		return
	}
	_ = dc.client.Close()
	dc.cancel()
	dc.dialer.Close()
}

// gone returns the error of a connection whose daemon went away, if any did.
func (dc *daemonConn) gone() error { return dc.dialer.Gone() }

// transient reports whether err came from the connection to a daemon rather than from the
// build, so that another attempt, maybe on another daemon, can succeed.
func transient(err error) bool {
	var gone *podexec.DaemonGoneError
	switch {
	case errors.As(err, &gone), errors.Is(err, ErrNoDaemon):
		return true
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed):
		return true
	}
	return grpcerrors.Code(err) == codes.Unavailable
}
