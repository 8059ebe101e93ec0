package inspect

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/containerd/platforms"
	controlapi "github.com/moby/buildkit/api/services/control"
	"github.com/moby/buildkit/client"
	corev1 "k8s.io/api/core/v1"

	"github.com/bkctl/bkctl/internal/podexec"
)

// askDaemons asks the daemon of every running pod, in parallel, and fills in its answer or error.
func (in *Inspector) askDaemons(ctx context.Context, builders []Builder, opts Options) {
	if opts.Concurrency < 1 {
		opts.Concurrency = 1
	}
	sem := make(chan struct{}, opts.Concurrency)
	var wg sync.WaitGroup
	for bi := range builders {
		b := &builders[bi]
		for ni := range b.Nodes {
			n := &b.Nodes[ni]
			for pi := range n.Pods {
				p := &n.Pods[pi]
				if p.Phase != string(corev1.PodRunning) {
					continue // nothing to ask yet, or any more
				}
				t, err := podexec.NewPodExec(in.cfg, b.Namespace, n.Name)
				if err != nil {
					p.Error = err.Error()
					continue
				}
				t.Client = in.client
				wg.Go(func() {
					sem <- struct{}{}
					defer func() { <-sem }()
					d, err := askDaemon(ctx, t, p.Name, opts)
					p.Daemon = d
					if err != nil {
						p.Error = err.Error()
					}
				})
			}
		}
	}
	wg.Wait()
}

// askDaemon connects a BuildKit client through the pod's transport and asks for the daemon's
// workers and version and, with opts.Usage, its disk usage and build history. The session ends
// with the context, which also ends the exec in the pod.
func askDaemon(ctx context.Context, t podexec.Transport, pod string, opts Options) (*Daemon, error) {
	ctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()
	dialer := &podexec.DaemonDialer{Transport: t, Daemon: pod}
	c, err := dialer.NewClient(ctx)
	if err != nil {
		return nil, fmt.Errorf("connect to buildkitd: %w", err)
	}
	defer c.Close()
	wrap := func(what string, err error) error {
		switch refusal := dialer.Refusal(); {
		case refusal != nil:
			return fmt.Errorf("connect to buildkitd: %w", refusal)
		case ctx.Err() != nil:
			return fmt.Errorf("%s: no answer within %s", what, opts.Timeout)
		}
		return fmt.Errorf("%s: %w", what, err)
	}
	ws, err := c.ListWorkers(ctx)
	if err != nil {
		return nil, wrap("list workers", err)
	}
	d := &Daemon{Platforms: []string{}}
	var ps []string
	for _, w := range ws {
		for _, p := range w.Platforms {
			ps = append(ps, platforms.Format(p))
		}
	}
	d.Platforms = normalize(ps)
	info, err := c.Info(ctx)
	if err != nil {
		return d, wrap("info", err)
	}
	d.BuildkitVersion = info.BuildkitVersion.Version
	if !opts.Usage {
		return d, nil
	}
	du, err := c.DiskUsage(ctx)
	if err != nil {
		return d, wrap("disk usage", err)
	}
	d.Cache = &Cache{Records: len(du)}
	for _, u := range du {
		d.Cache.Size += u.Size
		if !u.InUse {
			d.Cache.Reclaimable += u.Size
		}
	}
	if d.History, err = history(ctx, c); err != nil {
		return d, wrap("build history", err)
	}
	return d, nil
}

// history counts the daemon's completed builds and finds the newest completion time.
func history(ctx context.Context, c *client.Client) (*History, error) {
	stream, err := c.ControlClient().ListenBuildHistory(ctx, &controlapi.BuildHistoryRequest{EarlyExit: true})
	if err != nil {
		return nil, err
	}
	h := &History{}
	for {
		ev, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return h, nil
		}
		if err != nil {
			return nil, err
		}
		r := ev.GetRecord()
		if r == nil || r.GetCompletedAt() == nil || ev.GetType() == controlapi.BuildHistoryEventType_DELETED {
			continue
		}
		h.Builds++
		if at := r.GetCompletedAt().AsTime().UTC(); h.LastBuild == nil || at.After(*h.LastBuild) {
			h.LastBuild = &at
		}
	}
}
