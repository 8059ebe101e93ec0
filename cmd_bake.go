package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/bkctl/bkctl/internal/buildrun"
	"github.com/bkctl/bkctl/internal/buildrun/bakefile"
)

type bakeCmd struct {
	Targets        []string `arg:"" optional:"" help:"Targets or groups to build (default: the group or target \"default\")."`
	File           []string `short:"f" name:"file" sep:"none" help:"Bake file (docker-bake.hcl, docker-bake.json, compose.yaml; repeatable; - reads stdin)."`
	Set            []string `name:"set" sep:"none" help:"Override a target value: TARGET.KEY=VALUE (TARGET may be a pattern, e.g. *.platform=linux/arm64)."`
	Print          bool     `name:"print" help:"Print the resolved definition as JSON and build nothing."`
	Push           bool     `name:"push" help:"Shorthand for --set=*.output=type=registry."`
	Load           bool     `name:"load" help:"Not supported: bkctl has no docker daemon to load into."`
	NoCache        bool     `name:"no-cache" help:"Do not use the cache."`
	Pull           bool     `name:"pull" help:"Always attempt to pull all referenced images."`
	Provenance     string   `name:"provenance" help:"Shorthand for --set=*.attest=type=provenance."`
	SBOM           string   `name:"sbom" help:"Shorthand for --set=*.attest=type=sbom."`
	MaxParallelism int      `name:"max-parallelism" help:"Build at most this many targets at once (default: all)."`
	Progress       string   `name:"progress" enum:"auto,plain,tty,rawjson,quiet,none" default:"auto" help:"Progress output: auto, plain, rawjson, quiet, none (targets' lines are prefixed with their name)."`
	BuildersFile   []string `name:"builders-file" default:"builders.yaml" placeholder:"FILE" help:"Builders file or directory that defines --builder (repeatable; - reads stdin)."`
	Builder        string   `name:"builder" predictor:"builder" help:"Builder to run on (default: the file's only builder)."`
}

func (c *bakeCmd) Help() string {
	return `Builds the targets of a bake file like 'docker buildx bake', on the pods of a builder from
the builders file. The bake file is read by buildx's own bake package, so HCL, JSON and compose
files, variables, functions, groups, inherits, matrices and --set behave exactly as in buildx.

Beyond buildx, the targets are spread over each node's pods: every pod gets its share, and a
target goes back to the same pod on the next run, where its cache is. Each target's platforms
build on their native nodes as in 'bkctl run'. The first target that fails stops the others.

Examples:
  bkctl bake --builder kube
  bkctl bake -f docker-bake.hcl --set '*.platform=linux/amd64,linux/arm64' --push app worker
  bkctl bake --print release`
}

func (c *bakeCmd) Run(ctx context.Context, s streams, kube *kubeFlags) error {
	if c.Load {
		return &exitCode{code: 1, err: fmt.Errorf("--load: %w", buildrun.ErrNoLoad)}
	}
	set := c.Set
	if c.Push {
		set = append(set, "*.push=true")
	}
	if c.NoCache {
		set = append(set, "*.no-cache=true")
	}
	if c.Pull {
		set = append(set, "*.pull=true")
	}
	if c.SBOM != "" {
		set = append(set, "*.attest="+buildrun.CanonicalAttest("sbom", c.SBOM))
	}
	if c.Provenance != "" {
		set = append(set, "*.attest="+buildrun.CanonicalAttest("provenance", c.Provenance))
	}
	bf, err := bakefile.Read(ctx, c.File, c.Targets, set, s.In)
	if err != nil {
		return &exitCode{code: 1, err: err}
	}
	if c.Print {
		b, err := json.MarshalIndent(bf, "", "  ")
		if err != nil {
			return err
		}
		fmt.Fprintln(s.Out, string(b))
		return nil
	}
	base := buildrun.DefaultOptions()
	base.DockerConfigDir = os.Getenv("DOCKER_CONFIG")
	base.Stdout = s.Out
	targets, err := bf.BuildTargets(base, os.LookupEnv)
	if err != nil {
		return &exitCode{code: 1, err: err}
	}
	invs, err := loadInventories(fileFlags{Filenames: c.BuildersFile}, kube, s)
	if errors.Is(err, fs.ErrNotExist) {
		return &exitCode{code: 1, err: fmt.Errorf("%w (hint: --builders-file names the builders file; -f is the bake file, as in buildx)", err)}
	}
	if err != nil {
		return err
	}
	f, err := pickFile(invs, c.Builder)
	if err != nil {
		return err
	}
	b, err := pickBuilder(f, c.Builder)
	if err != nil {
		return &exitCode{code: 1, err: err}
	}
	cfg, err := kube.restConfig()
	if err != nil {
		return err
	}
	target, err := toBuilder(cfg, f, b)
	if err != nil {
		return &exitCode{code: 1, err: err}
	}
	mode := c.Progress
	if mode == "none" {
		mode = "quiet"
	}
	if _, err := buildrun.Bake(ctx, target, targets, buildrun.BakeOptions{
		MaxParallelism: c.MaxParallelism, Progress: s.Err, ProgressMode: mode,
	}); err != nil {
		return &exitCode{code: 1, err: clusterErr(err, cfg.Host)}
	}
	return nil
}
