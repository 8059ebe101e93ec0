package buildrun

import (
	"context"
	"fmt"
	"maps"
	"path/filepath"
	"sync"

	"github.com/moby/buildkit/client"
	"github.com/moby/buildkit/session"
	"github.com/moby/buildkit/session/filesync"
	"github.com/tonistiigi/fsutil"
	fstypes "github.com/tonistiigi/fsutil/types"
)

// connPool shares one connection per daemon among the builds of a bake, as buildx shares a
// node's client among its targets: a daemon gets one pod exec stream and one ListWorkers
// however many targets it builds, and BuildKit runs their solves side by side on it.
//
// The builds on one daemon that read the same directory under the same name also share one
// session that offers it, as buildx does for the targets of a node: the daemon syncs the
// directory once for all of them instead of once per target.
type connPool struct {
	ctx      context.Context // the bake's: a connection outlives the target that opened it
	mu       sync.Mutex
	conns    map[string]*pooledConn // by node and daemon
	sessions map[sharedDir]*sharedSession
}

// sharedSession is a session and the connection it runs on.
type sharedSession struct {
	*session.Session
	dc *daemonConn
}

// sharedDir is a directory offered under a name to the builds on one daemon.
type sharedDir struct{ daemon, name, dir string }

type pooledConn struct {
	ready chan struct{}
	dc    *daemonConn
	err   error
}

func newConnPool(ctx context.Context) *connPool {
	return &connPool{ctx: ctx, conns: map[string]*pooledConn{}, sessions: map[sharedDir]*sharedSession{}}
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

// share moves the local directories of so into the sessions shared by the builds on dc's
// daemon (dirs names each mount's directory): the frontend finds each by its session ID.
func (p *connPool) share(dc *daemonConn, so *client.SolveOpt, dirs map[string]string) error {
	mounts := maps.Clone(so.LocalMounts)
	for name, fs := range so.LocalMounts {
		dir, ok := dirs[name]
		if !ok {
			continue
		}
		abs, err := filepath.Abs(dir)
		if err != nil {
			return err
		}
		id, err := p.session(dc, sharedDir{dc.daemon, name, abs}, fs)
		if err != nil {
			return fmt.Errorf("session for %s: %w", dir, err)
		}
		so.FrontendAttrs["local-sessionid:"+name] = id
		delete(mounts, name)
	}
	so.LocalMounts = mounts
	return nil
}

// session returns the ID of the session that offers key's directory on its daemon, starting it
// on dc's connection on first use, and again on a new connection to the daemon.
func (p *connPool) session(dc *daemonConn, key sharedDir, fs fsutil.FS) (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if s := p.sessions[key]; s != nil && s.dc == dc {
		return s.ID(), nil
	}
	s, err := session.NewSession(p.ctx, "")
	if err != nil {
		return "", err
	}
	// as the client does for its own session: files arrive owned by root
	fs, err = fsutil.NewFilterFS(fs, &fsutil.FilterOpt{Map: func(_ string, st *fstypes.Stat) fsutil.MapResult {
		st.Uid, st.Gid = 0, 0
		return fsutil.MapResultKeep
	}})
	if err != nil {
		return "", err
	}
	s.Allow(filesync.NewFSSyncProvider(filesync.StaticDirSource{key.name: fs}))
	go func() { _ = s.Run(p.ctx, dc.client.Dialer()) }()
	p.sessions[key] = &sharedSession{Session: s, dc: dc}
	return s.ID(), nil
}

// close ends every session and connection of the pool.
func (p *connPool) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, s := range p.sessions {
		_ = s.Close()
	}
	clear(p.sessions)
	for _, pc := range p.conns {
		<-pc.ready
		if pc.dc != nil {
			pc.dc.shared = false
			pc.dc.close()
		}
	}
	clear(p.conns)
}
