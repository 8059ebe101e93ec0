package main

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/bkctl/bkctl/internal/bakedef"
	"github.com/bkctl/bkctl/internal/buildrun"
)

type bakeCmd struct {
	Targets        []string `arg:"" optional:"" help:"Targets or groups to build (default: the group or target \"default\")."`
	File           []string `short:"f" name:"file" sep:"none" help:"Bake file: docker-bake.hcl, docker-bake.json, compose.yaml (repeatable; - reads stdin; default: the names buildx looks for)."`
	Set            []string `name:"set" sep:"none" help:"Override a target value: TARGET.KEY=VALUE (TARGET may be a pattern, e.g. *.platform=linux/arm64)."`
	Var            []string `name:"var" sep:"none" help:"Set a variable of the bake file: NAME=VALUE."`
	Print          bool     `name:"print" help:"Print the resolved definition as docker buildx bake --print does, and build nothing."`
	Push           bool     `name:"push" help:"Shorthand for --set=*.output=type=registry."`
	Load           bool     `name:"load" help:"Not supported: bkctl has no docker daemon to load into."`
	NoCache        bool     `name:"no-cache" help:"Do not use the cache when building."`
	Pull           bool     `name:"pull" help:"Always attempt to pull all referenced images."`
	Provenance     string   `name:"provenance" help:"Shorthand for --set=*.attest=type=provenance."`
	SBOM           string   `name:"sbom" help:"Shorthand for --set=*.attest=type=sbom."`
	Call           string   `name:"call" default:"build" help:"Method of evaluating the build: build, check, outline, targets."`
	Check          bool     `name:"check" help:"Shorthand for --call=check."`
	Allow          []string `name:"allow" sep:"none" help:"Grant what targets ask for: network.host, security.insecure, device, ssh, or access to paths outside the working directory: fs=PATH, fs.read=PATH, fs.write=PATH (* for any)."`
	Jobs           string   `short:"j" name:"jobs" default:"fail-fast" help:"Target execution: N, or MODE[,parallel=N] with MODE fail-fast (a failure cancels the others) or defer-error (the others finish)."`
	Spread         bool     `name:"spread" default:"true" negatable:"" help:"Spread the targets over each node's pods, sticky per target (--no-spread: every target goes where bkctl run would send it, as in buildx)."`
	MaxParallelism int      `name:"max-parallelism" help:"Build at most this many targets at once (default: all; same as --jobs parallel=N)."`
	MetadataFile   string   `name:"metadata-file" help:"Write every target's build result metadata (buildx's JSON, by target name) to this file."`
	Progress       string   `name:"progress" enum:"auto,plain,tty,rawjson,quiet,none" default:"auto" help:"Progress output: auto, plain, rawjson, quiet, none (each line is prefixed with its target)."`
	BuildersFile   []string `name:"builders-file" default:"builders.yaml" placeholder:"FILE" help:"Builders file or directory that defines --builder (repeatable)."`
	Builder        string   `name:"builder" predictor:"builder" help:"Builder to run on (default: the file's only builder)."`
}

func (c *bakeCmd) Help() string {
	return `Builds the targets of a bake file like 'docker buildx bake', on the pods of a builder from
the builders file. The bake file is read by buildx's own bake package (in the bkctl-bake program,
which bkctl finds next to itself or on PATH), so HCL, JSON and compose files, variables,
functions, groups, inherits, matrices and --set behave as in buildx.

Beyond buildx, the targets are spread over each node's pods: every pod gets its share, and a
target goes back to the same pod on the next run, where its cache is. Where a node's pods share
one machine's CPUs, spreading buys nothing and repeats the steps that targets share; with
--no-spread every target goes where 'bkctl run' would send it (on a sticky node, one pod per
context), as in buildx. Each target's platforms
build on their native nodes as in 'bkctl run'. By default the first target that fails cancels
the others (--jobs fail-fast); --jobs defer-error lets them finish.

As in buildx, a target that asks for an entitlement (network.host, security.insecure) or reads
or writes a path outside the working directory (a context, an OCI layout, a secret file, an
output) needs it granted with --allow; BUILDX_BAKE_ENTITLEMENTS_FS=0 turns the path checks off.

Left out: --load (no docker daemon); --list; --policy (buildx's policy engine); --jobs
defer-output; contexts = { name = "target:OTHER" } (push OTHER and use docker-image://).

Examples:
  bkctl bake --builder kube
  bkctl bake -f docker-bake.hcl --set '*.platform=linux/amd64,linux/arm64' --push app worker
  bkctl bake --var TAG=1.2 --jobs defer-error,parallel=4 --metadata-file bake.json
  bkctl bake --print release`
}

func (c *bakeCmd) Run(ctx context.Context, s streams, kube *kubeFlags) error {
	if c.Load {
		return usageErr(fmt.Errorf("--load: %w", buildrun.ErrNoLoad))
	}
	bakeOpts, err := c.execution()
	if err != nil {
		return usageErr(err)
	}
	args := c.programArgs()
	if c.Print {
		out, err := runBakeProgram(ctx, s, append([]string{"--print"}, args...))
		if err != nil {
			return err
		}
		_, err = s.Out.Write(out)
		return err
	}
	out, err := runBakeProgram(ctx, s, args)
	if err != nil {
		return err
	}
	var def bakedef.Definition
	if err := json.Unmarshal(out, &def); err != nil || def.APIVersion != bakedef.APIVersion || def.Kind != bakedef.Kind {
		return usageErr(fmt.Errorf("bkctl-bake wrote no %s %s (hint: install bkctl-bake of the same version as bkctl)", bakedef.APIVersion, bakedef.Kind))
	}
	targets, err := c.targets(def, s)
	if err != nil {
		return usageErr(err)
	}
	f, b, err := builderOfFiles(c.BuildersFile, c.Builder, "the bake file", kube, s)
	if err != nil {
		return err
	}
	cfg, err := kube.restConfig()
	if err != nil {
		return err
	}
	builder, err := toBuilder(cfg, f, b)
	if err != nil {
		return usageErr(err)
	}
	bakeOpts.Progress, bakeOpts.ProgressMode, bakeOpts.NoSpread = s.Err, c.Progress, !c.Spread
	if c.Progress == "none" {
		bakeOpts.ProgressMode = "quiet"
	}
	results, bakeErr := buildrun.Bake(ctx, builder, targets, bakeOpts)
	if c.MetadataFile != "" && (bakeErr == nil || bakeOpts.KeepGoing) {
		if err := writeBakeMetadata(c.MetadataFile, b.Name, results); err != nil {
			return &exitCode{code: 1, err: err}
		}
	}
	if bakeErr != nil {
		return &exitCode{code: 1, err: clusterErr(bakeErr, cfg.Host)}
	}
	return printCalls(s, targets, results)
}

// programArgs are the arguments of bkctl-bake: the files, variables and overrides, with the
// shorthand flags turned into overrides as buildx turns them.
func (c *bakeCmd) programArgs() []string {
	set := slices.Clone(c.Set)
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
	if c.Check {
		set = append(set, "*.call=check")
	} else if c.Call != "build" {
		set = append(set, "*.call="+c.Call)
	}
	var args []string
	for _, f := range c.File {
		args = append(args, "-f", f)
	}
	for _, v := range c.Var {
		args = append(args, "--var", v)
	}
	for _, v := range set {
		args = append(args, "--set", v)
	}
	return append(append(args, "--"), c.Targets...)
}

// execution parses --jobs and --max-parallelism as buildx parses --jobs.
func (c *bakeCmd) execution() (buildrun.BakeOptions, error) {
	var o buildrun.BakeOptions
	jobs := strings.TrimSpace(c.Jobs)
	if n, err := parseCount(jobs); err == nil {
		jobs = "parallel=" + fmt.Sprint(n)
	}
	seen := map[string]bool{}
	for _, field := range strings.Split(jobs, ",") {
		key, val, ok := strings.Cut(strings.TrimSpace(field), "=")
		if !ok {
			key, val = "mode", key
		}
		if seen[key] {
			return o, fmt.Errorf("--jobs: %s given twice", key)
		}
		seen[key] = true
		switch key {
		case "mode":
			switch val {
			case "fail-fast":
			case "defer-error":
				o.KeepGoing = true
			case "defer-output":
				return o, fmt.Errorf("--jobs: mode defer-output is not supported by bkctl bake (hint: defer-error lets every target finish)")
			default:
				return o, fmt.Errorf("--jobs: unknown mode %q (want fail-fast or defer-error)", val)
			}
		case "parallel":
			n, err := parseCount(val)
			if err != nil {
				return o, fmt.Errorf("--jobs: parallel %q: want a number of targets, 0 for all", val)
			}
			o.MaxParallelism = n
		default:
			return o, fmt.Errorf("--jobs: unknown option %q (want mode or parallel)", key)
		}
	}
	if c.MaxParallelism < 0 {
		return o, fmt.Errorf("--max-parallelism %d: want a number of targets, 0 for all", c.MaxParallelism)
	}
	if c.MaxParallelism > 0 {
		o.MaxParallelism = c.MaxParallelism
	}
	return o, nil
}

// targets turns the definition's targets into builds, after checking, as buildx does when it
// cannot prompt, that --allow grants every entitlement and every path outside the working
// directory that they need.
func (c *bakeCmd) targets(def bakedef.Definition, s streams) ([]buildrun.BakeTarget, error) {
	if len(def.Targets) == 0 {
		return nil, fmt.Errorf("the bake file defines no target to build")
	}
	wd, err := buildrun.WorkingDir()
	if err != nil {
		return nil, err
	}
	grants, err := buildrun.ParseGrants(c.Allow, wd)
	if err != nil {
		return nil, err
	}
	missing, err := grants.Missing(def.Targets, os.LookupEnv)
	if err != nil {
		return nil, err
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("the targets ask for privileges not granted: %s (hint: pass --allow %s; %s=0 turns the file system checks off)",
			strings.Join(missing, ", "), strings.Join(missing, " --allow "), buildrun.FSEntitlementsEnv)
	}
	base := buildrun.DefaultOptions()
	base.DockerConfigDir = os.Getenv("DOCKER_CONFIG")
	base.Stdout = s.Out
	var out []buildrun.BakeTarget
	for _, t := range def.Targets {
		o, err := buildrun.TargetOptions(t, base, os.LookupEnv)
		if err != nil {
			return nil, fmt.Errorf("target %s: %w", t.Name, err)
		}
		out = append(out, buildrun.BakeTarget{Name: t.Name, Options: o})
	}
	return out, nil
}

// printCalls prints the result of every target evaluated with --call other than build, in
// target order, and exits with the highest status they ask for (a failed check is 1).
func printCalls(s streams, targets []buildrun.BakeTarget, results map[string]*buildrun.Result) error {
	worst := 0
	for _, t := range targets {
		res := results[t.Name]
		if t.Options.CallFunc == nil || res == nil {
			continue
		}
		if len(targets) > 1 {
			fmt.Fprintf(s.Out, "target %s:\n", t.Name)
		}
		code, err := buildrun.PrintCall(s.Out, t.Options.CallFunc, res.Call)
		if err != nil {
			return &exitCode{code: 1, err: fmt.Errorf("target %s: %w", t.Name, err)}
		}
		worst = max(worst, code)
	}
	if worst != 0 {
		return &exitCode{code: worst}
	}
	return nil
}

// writeBakeMetadata writes the metadata of every target that built, by target name, as buildx
// bake's --metadata-file does.
func writeBakeMetadata(path, builder string, results map[string]*buildrun.Result) error {
	out := map[string]any{}
	for _, name := range slices.Sorted(maps.Keys(results)) {
		if res := results[name]; res != nil {
			out[name] = metadataOf(builder, res)
		}
	}
	return writeJSONFile(path, out)
}

func parseCount(v string) (int, error) {
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("not a count: %q", v)
	}
	return n, nil
}
