package buildrun

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/bkctl/bkctl/internal/bakedef"
)

// TargetOptions turns a resolved bake target into the options of its build: base supplies what
// the command line sets for every target (progress, docker config, stdout), and each value is
// parsed as the matching flag of `bkctl run`. lookup reads the environment.
func TargetOptions(t bakedef.Target, base Options, lookup func(string) (string, bool)) (Options, error) {
	o := base
	if t.Context == "-" || t.Dockerfile == "-" {
		return o, fmt.Errorf("a context or Dockerfile from stdin is not allowed in bake")
	}
	o.ContextDir = "."
	if t.Context != "" {
		o.ContextDir = strings.TrimPrefix(t.Context, "cwd://")
	}
	o.NamedContexts = map[string]string{}
	for k, v := range t.Contexts {
		if name, ok := strings.CutPrefix(v, "target:"); ok {
			return o, fmt.Errorf("context %s: another target as a context (target:%s) is not supported by bkctl bake yet (hint: push that target and name its image as docker-image://REF)", k, name)
		}
		o.NamedContexts[k] = strings.TrimPrefix(v, "cwd://")
	}
	switch {
	case t.DockerfileInline != nil:
		o.Dockerfile, o.Stdin = "-", strings.NewReader(*t.DockerfileInline)
	default:
		o.Dockerfile = dockerfilePath(o.ContextDir, t.Dockerfile)
	}
	o.Platforms, o.Tags, o.Target, o.NoCache = t.Platforms, t.Tags, t.Target, t.NoCache
	o.BuildArgs, o.Labels = orEmpty(t.Args), orEmpty(t.Labels)
	var err error
	if o.Outputs, err = ParseOutputs(t.Outputs, false); err != nil {
		return o, err
	}
	if o.CacheFrom, err = ParseCache(t.CacheFrom, false); err != nil {
		return o, err
	}
	if o.CacheTo, err = ParseCache(t.CacheTo, true); err != nil {
		return o, err
	}
	flags := BuildFlags{Attest: t.Attest, Annotation: t.Annotations, Allow: t.Entitlements,
		Network: t.Network, AddHost: t.ExtraHosts, Pull: t.Pull, NoCacheFilter: t.NoCacheFilter,
		ShmSize: t.ShmSize, Ulimit: t.Ulimits, Resource: t.Resources, Call: t.Call, Secret: t.Secrets,
		SSH: t.SSH}
	if err := flags.Apply(&o, lookup); err != nil {
		return o, err
	}
	return o, nil
}

// dockerfilePath is the Dockerfile of a target as buildx finds it: relative to a local context,
// relative to the working directory with cwd://, as given for a remote context.
func dockerfilePath(contextDir, df string) string {
	if df == "" {
		df = "Dockerfile"
	}
	if v, ok := strings.CutPrefix(df, "cwd://"); ok {
		abs, err := filepath.Abs(v)
		if err != nil {
			return v
		}
		return abs
	}
	if IsRemoteContext(contextDir) || filepath.IsAbs(df) {
		return df
	}
	return filepath.Join(contextDir, df)
}

func orEmpty(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}
