package buildrun

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/containerd/platforms"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
)

// assignment is the part of a build that one node does.
type assignment struct {
	node      int
	platforms []string // normalized; empty for the daemon's default platform
}

// workersFunc returns the platforms that the workers of node i report.
type workersFunc func(ctx context.Context, i int) ([]ocispecs.Platform, error)

// route assigns every platform to the first node that declares it, else to the first node whose
// workers report it (emulation), and fails before any build starts when no node builds one.
// Without platforms the whole build goes to the first node.
func route(ctx context.Context, nodes []Node, want []string, workers workersFunc) ([]assignment, error) {
	if len(nodes) == 0 {
		return nil, fmt.Errorf("route build: the builder has no nodes")
	}
	if len(want) == 0 {
		return []assignment{{node: 0}}, nil
	}
	byNode := map[int][]string{}
	var missing []ocispecs.Platform
	for _, s := range want {
		p, err := platforms.Parse(s)
		if err != nil {
			return nil, fmt.Errorf("parse platform %q: %w", s, err)
		}
		p = platforms.Normalize(p)
		i := slices.IndexFunc(nodes, func(n Node) bool {
			return slices.ContainsFunc(n.Platforms, func(d string) bool {
				dp, err := platforms.Parse(d)
				return err == nil && platforms.NewMatcher(p).Match(platforms.Normalize(dp))
			})
		})
		if i < 0 {
			missing = append(missing, p)
			continue
		}
		byNode[i] = appendUnique(byNode[i], platforms.Format(p))
	}
	var unbuildable []string
	if len(missing) > 0 {
		reported := make([][]ocispecs.Platform, len(nodes))
		for _, p := range missing {
			found := false
			for i := range nodes {
				if reported[i] == nil {
					ps, err := workers(ctx, i)
					if err != nil {
						return nil, fmt.Errorf("list workers of node %s: %w", nodes[i].Name, err)
					}
					reported[i] = append(ps, ocispecs.Platform{}) // non-nil: asked
				}
				if slices.ContainsFunc(reported[i], func(w ocispecs.Platform) bool {
					return w.OS != "" && platforms.NewMatcher(p).Match(platforms.Normalize(w))
				}) {
					byNode[i] = appendUnique(byNode[i], platforms.Format(p))
					found = true
					break
				}
			}
			if !found {
				unbuildable = append(unbuildable, platforms.Format(p))
			}
		}
	}
	if len(unbuildable) > 0 {
		var have []string
		for _, n := range nodes {
			have = append(have, fmt.Sprintf("%s [%s]", n.Name, strings.Join(n.Platforms, ",")))
		}
		return nil, fmt.Errorf("%w: %s (nodes: %s; hint: add the platform to a node's platforms, or install QEMU on one)",
			ErrPlatform, strings.Join(unbuildable, ", "), strings.Join(have, ", "))
	}
	var out []assignment
	for i := range nodes {
		if ps, ok := byNode[i]; ok {
			out = append(out, assignment{node: i, platforms: ps})
		}
	}
	return out, nil
}

// ErrPlatform reports a requested platform that no node of the builder can build.
var ErrPlatform = fmt.Errorf("no node of the builder can build platform")

func appendUnique(s []string, v string) []string {
	if slices.Contains(s, v) {
		return s
	}
	return append(s, v)
}
