package buildrun

import (
	"context"
	"sync"
)

// connPool shares one connection per daemon among the builds of a bake, as buildx shares a
// node's client among its targets: a daemon gets one pod exec stream and one ListWorkers
// however many targets it builds, and BuildKit runs their solves side by side on it.
type connPool struct {
	ctx   context.Context // the bake's: a connection outlives the target that opened it
	mu    sync.Mutex
	conns map[string]*pooledConn // by node and daemon
}

type pooledConn struct {
	ready chan struct{}
	dc    *daemonConn
	err   error
}

func newConnPool(ctx context.Context) *connPool {
	return &connPool{ctx: ctx, conns: map[string]*pooledConn{}}
}

// get returns the shared connection to the daemon of node n, dialing it on first use, or again
// when the last one lost its daemon or failed to connect.
func (p *connPool) get(ctx context.Context, n Node, daemon string) (*daemonConn, error) {
	key := n.Name + "/" + daemon
	p.mu.Lock()
	pc := p.conns[key]
	if pc != nil {
		select {
		case <-pc.ready:
			if pc.err != nil || pc.dc.gone() != nil {
				pc = nil // dial again
			}
		default:
		}
	}
	if pc == nil {
		pc = &pooledConn{ready: make(chan struct{})}
		p.conns[key] = pc
		go func() {
			defer close(pc.ready)
			pc.dc, pc.err = dialDaemon(p.ctx, n.Transport, daemon)
			if pc.dc != nil {
				pc.dc.shared = true
			}
		}()
	}
	p.mu.Unlock()
	select {
	case <-pc.ready:
		return pc.dc, pc.err
	case <-ctx.Done():
		return nil, context.Cause(ctx)
	}
}

// close ends every connection of the pool.
func (p *connPool) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, pc := range p.conns {
		<-pc.ready
		if pc.dc != nil {
			pc.dc.shared = false
			pc.dc.close()
		}
	}
	clear(p.conns)
}
