// Package bakefile reads bake files with buildx's own bake package and turns their targets into the builds of buildrun.Bake.
package bakefile

import (
	"context"
	"fmt"
	"io"
	"maps"
	"path/filepath"
	"slices"
	"strings"

	"github.com/docker/buildx/bake"

	"github.com/bkctl/bkctl/internal/buildrun"
)

// File is a bake definition as buildx's own bake package reads it: HCL, JSON and compose
// files with their variables, functions, groups, inherits and matrices, and --set overrides.
type File struct {
	Groups  map[string]*bake.Group  `json:"group"`
	Targets map[string]*bake.Target `json:"target"`
}

// Read reads files ("" means buildx's default names: docker-bake.hcl, compose.yaml, …;
// "-" reads stdin) and resolves targets (a target or group name; none is "default") with the
// --set overrides, as `docker buildx bake` does.
func Read(ctx context.Context, files, targets, set []string, stdin io.Reader) (*File, error) {
	fs, err := bake.ReadLocalFiles(files, stdin, nil)
	if err != nil {
		return nil, fmt.Errorf("read bake files: %w", err)
	}
	if len(fs) == 0 {
		return nil, fmt.Errorf("read bake files: no docker-bake.hcl, docker-bake.json or compose file found")
	}
	if len(targets) == 0 {
		targets = []string{"default"}
	}
	ts, gs, err := bake.ReadTargets(ctx, fs, targets, set, nil, nil, &bake.EntitlementConf{})
	if err != nil {
		return nil, err
	}
	return &File{Targets: ts, Groups: gs}, nil
}

// BuildTargets turns the file's targets into the options of their builds, in name order.
// base supplies what the command line sets for every target (progress, docker config, …).
func (f *File) BuildTargets(base buildrun.Options, lookup func(string) (string, bool)) ([]buildrun.BakeTarget, error) {
	var out []buildrun.BakeTarget
	for _, name := range slices.Sorted(maps.Keys(f.Targets)) {
		o, err := targetOptions(f.Targets[name], base, lookup)
		if err != nil {
			return nil, fmt.Errorf("target %s: %w", name, err)
		}
		out = append(out, buildrun.BakeTarget{Name: name, Options: o})
	}
	return out, nil
}

func targetOptions(t *bake.Target, base buildrun.Options, lookup func(string) (string, bool)) (buildrun.Options, error) {
	o := base
	if t.Context != nil && *t.Context == "-" || t.Dockerfile != nil && *t.Dockerfile == "-" {
		return o, fmt.Errorf("context or Dockerfile from stdin are not allowed in bake")
	}
	if t.DockerfileInline != nil {
		return o, fmt.Errorf("dockerfile-inline is not supported by bkctl bake yet")
	}
	o.ContextDir = "."
	if t.Context != nil {
		o.ContextDir = strings.TrimPrefix(*t.Context, "cwd://")
	}
	df := "Dockerfile"
	if t.Dockerfile != nil {
		df = *t.Dockerfile
	}
	if v, ok := strings.CutPrefix(df, "cwd://"); ok {
		df, _ = filepath.Abs(v)
	} else if !buildrun.IsRemoteContext(o.ContextDir) && !filepath.IsAbs(df) {
		df = filepath.Join(o.ContextDir, df)
	}
	o.Dockerfile = df
	o.Platforms, o.Tags = t.Platforms, t.Tags
	if t.Target != nil {
		o.Target = *t.Target
	}
	o.BuildArgs, o.Labels = derefMap(t.Args), derefMap(t.Labels)
	o.NamedContexts = map[string]string{}
	for k, v := range t.Contexts {
		o.NamedContexts[k] = strings.TrimPrefix(v, "cwd://")
	}
	if t.NoCache != nil {
		o.NoCache = *t.NoCache
	}
	var err error
	var outs []string
	for _, e := range t.Outputs {
		outs = append(outs, e.String())
	}
	if o.Outputs, err = buildrun.ParseOutputs(outs, false); err != nil {
		return o, err
	}
	var from, to []string
	for _, c := range t.CacheFrom {
		from = append(from, c.String())
	}
	for _, c := range t.CacheTo {
		to = append(to, c.String())
	}
	if o.CacheFrom, err = buildrun.ParseCache(from, false); err != nil {
		return o, err
	}
	if o.CacheTo, err = buildrun.ParseCache(to, true); err != nil {
		return o, err
	}
	flags := buildrun.BuildFlags{Annotation: t.Annotations, Allow: t.Entitlements, NoCacheFilter: t.NoCacheFilter, Ulimit: t.Ulimits}
	for _, a := range t.Attest {
		flags.Attest = append(flags.Attest, a.String())
	}
	if t.Pull != nil {
		flags.Pull = *t.Pull
	}
	if t.NetworkMode != nil {
		flags.Network = *t.NetworkMode
	}
	if t.ShmSize != nil {
		flags.ShmSize = *t.ShmSize
	}
	if t.Call != nil {
		flags.Call = *t.Call
	}
	for _, k := range slices.Sorted(maps.Keys(t.ExtraHosts)) {
		if v := t.ExtraHosts[k]; v != nil {
			flags.AddHost = append(flags.AddHost, k+"="+*v)
		}
	}
	if len(t.Secrets) > 0 || len(t.SSH) > 0 {
		return o, fmt.Errorf("secret and ssh in a bake file are not supported by bkctl bake yet (hint: bkctl run --secret/--ssh)")
	}
	if err := flags.Apply(&o, lookup); err != nil {
		return o, err
	}
	return o, nil
}

func derefMap(m map[string]*string) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		if v != nil {
			out[k] = *v
		}
	}
	return out
}
