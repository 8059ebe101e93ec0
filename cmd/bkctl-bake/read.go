package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/docker/buildx/bake"

	"github.com/bkctl/bkctl/internal/bakedef"
)

// resolved is what buildx's bake package resolved: the targets and the groups that were asked.
type resolved struct {
	Groups  map[string]*bake.Group
	Targets map[string]*bake.Target
}

// read reads files (none means buildx's default names; "-" reads stdin) and resolves targets
// (target or group names; none is "default") with the --var values and --set overrides, as `docker buildx bake`
// does.
func read(ctx context.Context, files, targets, set []string, vars map[string]string, stdin io.Reader) (*resolved, error) {
	fs, err := bake.ReadLocalFiles(files, stdin, nil)
	if err != nil {
		return nil, fmt.Errorf("read bake files: %w", err)
	}
	if len(fs) == 0 {
		return nil, fmt.Errorf("read bake files: no docker-bake.hcl, docker-bake.json or compose file in the current directory (hint: -f names one)")
	}
	if len(targets) == 0 {
		targets = []string{"default"}
	}
	ts, gs, err := bake.ReadTargets(ctx, fs, targets, set, nil, vars, &bake.EntitlementConf{})
	if err != nil {
		return nil, err
	}
	return &resolved{Groups: gs, Targets: ts}, nil
}

// printed is the definition in the shape of `docker buildx bake --print`.
func (r *resolved) printed() any {
	return struct {
		Group  map[string]*bake.Group  `json:"group,omitempty"`
		Target map[string]*bake.Target `json:"target"`
	}{r.Groups, r.Targets}
}

// definition converts the targets, in name order, into bkctl's definition.
func (r *resolved) definition() *bakedef.Definition {
	def := &bakedef.Definition{APIVersion: bakedef.APIVersion, Kind: bakedef.Kind, Targets: []bakedef.Target{}}
	for _, name := range slices.Sorted(maps.Keys(r.Targets)) {
		def.Targets = append(def.Targets, convert(name, r.Targets[name]))
	}
	return def
}

func convert(name string, t *bake.Target) bakedef.Target {
	out := bakedef.Target{
		Name: name, Contexts: t.Contexts, DockerfileInline: t.DockerfileInline,
		Args: values(t.Args), Labels: values(t.Labels), Tags: t.Tags, Platforms: t.Platforms,
		Annotations: t.Annotations, Entitlements: t.Entitlements, NoCacheFilter: t.NoCacheFilter,
		Ulimits: t.Ulimits, Resources: t.Resources.ToEntries(),
		Context: deref(t.Context), Dockerfile: deref(t.Dockerfile), Target: deref(t.Target),
		Network: deref(t.NetworkMode), ShmSize: deref(t.ShmSize), Call: deref(t.Call),
		NoCache: t.NoCache != nil && *t.NoCache, Pull: t.Pull != nil && *t.Pull,
	}
	for _, e := range t.Outputs {
		out.Outputs = append(out.Outputs, e.String())
	}
	for _, c := range t.CacheFrom {
		out.CacheFrom = append(out.CacheFrom, c.String())
	}
	for _, c := range t.CacheTo {
		out.CacheTo = append(out.CacheTo, c.String())
	}
	for _, a := range t.Attest {
		out.Attest = append(out.Attest, a.String())
	}
	for _, s := range t.Secrets {
		out.Secrets = append(out.Secrets, s.String())
	}
	for _, s := range t.SSH {
		v := s.ID
		if len(s.Paths) > 0 {
			v += "=" + strings.Join(s.Paths, ",")
		}
		out.SSH = append(out.SSH, v)
	}
	for _, k := range slices.Sorted(maps.Keys(t.ExtraHosts)) {
		if v := t.ExtraHosts[k]; v != nil {
			out.ExtraHosts = append(out.ExtraHosts, k+"="+*v)
		}
	}
	return out
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

func values(m map[string]*string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	out := map[string]string{}
	for k, v := range m {
		if v != nil {
			out[k] = *v
		}
	}
	return out
}
