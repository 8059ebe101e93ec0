package buildrun

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/moby/buildkit/client"
	"github.com/moby/buildkit/identity"
	"github.com/moby/buildkit/util/progress/progressui"
	digest "github.com/opencontainers/go-digest"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sync/errgroup"

	"github.com/bkctl/bkctl/internal/podexec"
)

// run is one Build in progress.
type run struct {
	b         Builder
	opts      Options
	stickyKey string
	status    chan *client.SolveStatus

	mu    sync.Mutex
	conns map[int]*daemonConn // connected while routing, taken by the node's first attempt
}

// Build runs the build on the builder: each platform on the node that builds it, nodes in
// parallel, each on one of its daemons chosen by the node's loadbalance, and pushes the results
// of several nodes as one image index. A platform that no node builds fails the build before
// anything runs. Progress goes to opts.Progress.
func Build(ctx context.Context, b Builder, opts Options) (*Result, error) {
	def := DefaultOptions()
	if opts.Attempts <= 0 {
		opts.Attempts = def.Attempts
	}
	if opts.Backoff <= 0 {
		opts.Backoff = def.Backoff
	}
	if opts.Progress == nil {
		opts.Progress, opts.ProgressMode = def.Progress, def.ProgressMode
	}
	if opts.Stdout == nil {
		opts.Stdout = def.Stdout
	}
	if opts.ContextDir == "" {
		opts.ContextDir = def.ContextDir
	}
	key := opts.ContextDir // a URL, or "-"
	if opts.ContextDir != "-" && !IsRemoteContext(opts.ContextDir) {
		abs, err := filepath.Abs(opts.ContextDir)
		if err != nil {
			return nil, err
		}
		if st, err := os.Stat(abs); err != nil || !st.IsDir() {
			return nil, fmt.Errorf("build context %s: not a directory, git repository or URL", opts.ContextDir)
		}
		key = abs
	}
	r := &run{b: b, opts: opts, stickyKey: opts.StickyKey, conns: map[int]*daemonConn{}}
	if r.stickyKey == "" {
		r.stickyKey = key
	}
	defer r.closeConns()

	plan, err := route(ctx, b.Nodes, opts.Platforms, r.workers)
	if err != nil {
		return nil, err
	}
	if opts.CallFunc != nil {
		plan = plan[:1] // a subrequest evaluates the Dockerfile once, on the first node
	}
	multi := len(plan) > 1
	base, err := newSolveBase(opts, multi)
	if err != nil {
		return nil, err
	}
	defer base.release()

	display, err := progressui.NewDisplay(opts.Progress, progressui.DisplayMode(opts.ProgressMode))
	if err != nil {
		return nil, fmt.Errorf("progress %q: %w", opts.ProgressMode, err)
	}
	r.status = make(chan *client.SolveStatus)
	displayed := make(chan error, 1)
	go func() {
		_, err := display.UpdateFrom(context.WithoutCancel(ctx), r.status)
		displayed <- err
	}()

	builds := make([]NodeBuild, len(plan))
	g, gctx := errgroup.WithContext(ctx)
	for i, a := range plan {
		g.Go(func() error {
			nb, err := r.solveNode(gctx, a, base)
			builds[i] = nb
			return err
		})
	}
	err = g.Wait()
	res := &Result{Builds: builds}
	if opts.CallFunc != nil && err == nil {
		res.Call = builds[0].ExporterResponse
		res.ExporterResponse = map[string]string{}
	} else if err == nil {
		res.ExporterResponse, err = r.finish(ctx, base, builds)
	}
	close(r.status)
	if derr := <-displayed; err == nil && derr != nil {
		err = fmt.Errorf("show progress: %w", derr)
	}
	if err != nil {
		return res, fmt.Errorf("builder %s: %w", b.Name, err)
	}
	return res, nil
}

// finish merges the per-node results: one node's response is the build's; several nodes'
// pushed images become one index.
func (r *run) finish(ctx context.Context, base *solveBase, builds []NodeBuild) (map[string]string, error) {
	if len(builds) == 1 {
		return builds[0].ExporterResponse, nil
	}
	if len(base.pushNames) == 0 {
		return map[string]string{}, nil
	}
	var resp map[string]string
	err := r.step(fmt.Sprintf("merging manifest list %v", base.pushNames), func() error {
		var err error
		resp, err = pushIndex(ctx, base.pushNames, base.insecure, builds)
		return err
	})
	return resp, err
}

// solveNode runs the node's part of the build, retrying when the connection to its daemon is
// lost: on another daemon where there is one, else on the same one once it answers again.
func (r *run) solveNode(ctx context.Context, a assignment, base *solveBase) (NodeBuild, error) {
	n := r.b.Nodes[a.node]
	nb := NodeBuild{Node: n.Name, Platforms: a.platforms}
	avoid := map[string]bool{}
	var lost error // why the last attempt ended, when it is retried
	for {
		nb.Attempts++
		dc := r.takeConn(a.node)
		if dc == nil {
			var err error
			if dc, err = r.connect(ctx, n, avoid); err != nil {
				if lost != nil {
					return nb, fmt.Errorf("%w; retrying failed: %w", lost, err)
				}
				return nb, fmt.Errorf("node %s: %w", n.Name, err)
			}
		}
		nb.Daemon = dc.daemon
		pod := podexec.ObjectOf(n.Transport, dc.daemon)
		if lost != nil {
			r.notice("node %s: attempt %d of %d on %s", n.Name, nb.Attempts, r.opts.Attempts, pod)
		}
		nb.Ref = identity.NewID()
		so, err := base.solveOpt(a.platforms, nb.Ref)
		if err == nil && r.opts.pool != nil {
			err = r.opts.pool.share(dc, &so, base.dirs)
		}
		if err != nil {
			dc.close()
			return nb, err
		}
		resp, err := r.solve(ctx, dc, so)
		dc.close()
		if err == nil {
			nb.ExporterResponse = resp.ExporterResponse
			return nb, nil
		}
		if gone := dc.gone(); gone != nil {
			err = fmt.Errorf("%w (%v)", gone, err)
		}
		retry := ctx.Err() == nil && transient(err)
		var gone *podexec.DaemonGoneError
		if retry && !errors.As(err, &gone) {
			err = &ConnectionLostError{Daemon: pod, Err: err}
		}
		err = fmt.Errorf("node %s: build on %s: %w", n.Name, pod, err)
		if !retry || nb.Attempts >= r.opts.Attempts {
			return nb, err
		}
		avoid[dc.daemon] = true
		lost = err
		r.notice("%v; retrying (attempt %d of %d)", err, nb.Attempts+1, r.opts.Attempts)
		if !r.sleep(ctx, nb.Attempts) {
			return nb, err
		}
	}
}

// solve runs one attempt and forwards its progress to the display.
func (r *run) solve(ctx context.Context, dc *daemonConn, so client.SolveOpt) (*client.SolveResponse, error) {
	ch := make(chan *client.SolveStatus)
	forwarded := make(chan struct{})
	go func() {
		defer close(forwarded)
		for s := range ch {
			r.status <- s
		}
	}()
	resp, err := gatewaySolve(ctx, dc.client, so, r.opts.CallFunc, ch)
	<-forwarded
	return resp, err
}

// workers returns the platforms of node i's workers, connecting to one of its daemons; the
// connection is kept for the node's build.
func (r *run) workers(ctx context.Context, i int) ([]ocispecs.Platform, error) {
	r.mu.Lock()
	dc := r.conns[i]
	r.mu.Unlock()
	if dc == nil {
		var err error
		if dc, err = r.connect(ctx, r.b.Nodes[i], map[string]bool{}); err != nil {
			return nil, err
		}
		r.mu.Lock()
		r.conns[i] = dc
		r.mu.Unlock()
	}
	return dc.workers, nil
}

func (r *run) takeConn(i int) *daemonConn {
	r.mu.Lock()
	defer r.mu.Unlock()
	dc := r.conns[i]
	delete(r.conns, i)
	return dc
}

func (r *run) closeConns() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, dc := range r.conns {
		dc.close()
	}
	clear(r.conns)
}

// sleep waits the backoff before attempt+1; it reports false when ctx ended first.
func (r *run) sleep(ctx context.Context, attempt int) bool {
	d := r.opts.Backoff << min(attempt-1, 5)
	select {
	case <-ctx.Done():
		return false
	case <-time.After(d):
		return true
	}
}

// notice shows a message as a completed step of the progress, so that every display mode
// shows it in order with the build's own steps. Before the display runs, it is dropped.
func (r *run) notice(format string, args ...any) {
	if r.status == nil {
		return
	}
	msg := fmt.Sprintf(format, args...)
	now := time.Now()
	r.status <- &client.SolveStatus{Vertexes: []*client.Vertex{{
		Digest: digest.FromString(msg + now.String()), Name: msg, Started: &now, Completed: &now,
	}}}
}

// step shows f as a step of the progress.
func (r *run) step(name string, f func() error) error {
	start := time.Now()
	v := &client.Vertex{Digest: digest.FromString(name + start.String()), Name: name, Started: &start}
	r.status <- &client.SolveStatus{Vertexes: []*client.Vertex{v}}
	err := f()
	end := time.Now()
	done := *v
	done.Completed = &end
	if err != nil {
		done.Error = err.Error()
	}
	r.status <- &client.SolveStatus{Vertexes: []*client.Vertex{&done}}
	return err
}
