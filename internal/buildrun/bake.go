package buildrun

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"

	"golang.org/x/sync/errgroup"
)

// BakeTarget is one target of a bake: its name and the options of its build.
type BakeTarget struct {
	Name    string
	Options Options
}

// BakeOptions are the options of a bake as a whole.
type BakeOptions struct {
	// MaxParallelism bounds the targets that build at once; 0 builds all at once.
	MaxParallelism int
	// NoSpread leaves each target's daemon to its nodes' loadbalance, as buildx does (sticky
	// nodes then build every target of one context on one pod), instead of Spread.
	NoSpread bool
	// KeepGoing lets the other targets finish when one fails (buildx's --jobs=defer-error);
	// otherwise the first failure cancels them (fail-fast).
	KeepGoing bool
	// Progress receives every target's progress in ProgressMode, each line prefixed with the
	// target's name (tty and auto show as plain when several targets build).
	Progress     io.Writer
	ProgressMode string
}

// Bake builds the targets on the builder. Beyond buildx, which sends every target to the same
// daemon of a node, the targets are spread over each node's daemons (Spread): sticky per target,
// so a rerun finds each target's cache on the daemon that built it before, and balanced. Each
// target's platforms route to their nodes as in Build. As in buildx, the first target that fails
// cancels the others unless KeepGoing, and the error names every target that failed. The
// results are those of the targets that built.
func Bake(ctx context.Context, b Builder, targets []BakeTarget, opts BakeOptions) (map[string]*Result, error) {
	names := make([]string, len(targets))
	for i, t := range targets {
		names[i] = t.Name
	}
	daemons := make([][]string, len(b.Nodes)) // each node's, listed side by side
	lg, lctx := errgroup.WithContext(ctx)
	for i, n := range b.Nodes {
		if opts.NoSpread {
			break
		}
		lg.Go(func() error {
			var err error
			if daemons[i], err = n.Transport.Daemons(lctx); err != nil {
				return fmt.Errorf("builder %s: node %s: %w", b.Name, n.Name, err)
			}
			return nil
		})
	}
	if err := lg.Wait(); err != nil {
		return nil, err
	}
	pins := map[string]map[string]string{} // target → node → daemon
	for i, n := range b.Nodes {
		for t, d := range Spread(names, daemons[i]) {
			if pins[t] == nil {
				pins[t] = map[string]string{}
			}
			pins[t][n.Name] = d
		}
	}
	mode := opts.ProgressMode
	if len(targets) > 1 && (mode == "auto" || mode == "tty" || mode == "") {
		mode = "plain"
	}
	out := opts.Progress
	if out == nil {
		out, mode = io.Discard, "quiet"
	}
	var mu sync.Mutex
	results := map[string]*Result{}
	var failed []error
	g, gctx := errgroup.WithContext(ctx)
	if opts.KeepGoing {
		g, gctx = &errgroup.Group{}, ctx
	}
	pool := newConnPool(gctx)
	defer pool.close()
	if opts.MaxParallelism > 0 {
		g.SetLimit(opts.MaxParallelism)
	}
	for _, t := range targets {
		g.Go(func() error {
			o := t.Options
			o.Pinned, o.pool = maps.Clone(pins[t.Name]), pool
			if o.StickyKey == "" && !opts.NoSpread {
				o.StickyKey = t.Name // where a pinned pod is not ready, the target still sticks
			}
			w := &prefixWriter{w: out, mu: &mu, prefix: "[" + t.Name + "] "}
			o.Progress, o.ProgressMode = w, mode
			res, err := Build(gctx, b, o)
			w.flush()
			mu.Lock()
			defer mu.Unlock()
			if err == nil {
				results[t.Name] = res
			} else {
				err = fmt.Errorf("target %s: %w", t.Name, err)
				failed = append(failed, err)
			}
			return err
		})
	}
	_ = g.Wait() // every error is in failed, in the order the targets failed
	if !opts.KeepGoing && len(failed) > 0 {
		return results, failed[0] // the others were cancelled because of it
	}
	slices.SortFunc(failed, func(a, b error) int { return strings.Compare(a.Error(), b.Error()) })
	return results, errors.Join(failed...)
}

// prefixWriter writes whole lines to w, each with prefix, under a lock shared by every target.
type prefixWriter struct {
	w      io.Writer
	mu     *sync.Mutex
	prefix string
	buf    bytes.Buffer
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.buf.Write(b)
	for {
		i := bytes.IndexByte(p.buf.Bytes(), '\n')
		if i < 0 {
			return len(b), nil
		}
		line := p.buf.Next(i + 1)
		if _, err := fmt.Fprintf(p.w, "%s%s", p.prefix, line); err != nil {
			return len(b), err
		}
	}
}

func (p *prefixWriter) flush() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.buf.Len() > 0 {
		fmt.Fprintf(p.w, "%s%s\n", p.prefix, p.buf.Bytes())
		p.buf.Reset()
	}
}
