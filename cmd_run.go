package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/alecthomas/kong"
	"k8s.io/client-go/rest"

	"github.com/bkctl/bkctl/internal/buildrun"
	"github.com/bkctl/bkctl/internal/podexec"
	"github.com/bkctl/bkctl/internal/spec"
)

type runCmd struct {
	Context       string   `arg:"" default:"." help:"Build context: a directory, a git or https URL, or - (a tar archive or a Dockerfile on stdin)."`
	File          string   `short:"f" name:"file" help:"Dockerfile (default: CONTEXT/Dockerfile; - reads stdin)."`
	BuildersFile  []string `name:"builders-file" default:"builders.yaml" placeholder:"FILE" help:"Builders file or directory that defines --builder (repeatable; - reads stdin)."`
	Builder       string   `name:"builder" predictor:"builder" help:"Builder to run on (default: the file's only builder)."`
	Platform      []string `name:"platform" predictor:"platform" help:"Target platforms, comma-separated (e.g. linux/amd64,linux/arm64)."`
	Tag           []string `short:"t" name:"tag" sep:"none" help:"Image name and tag (repeatable)."`
	Push          bool     `name:"push" help:"Shorthand for --output type=registry."`
	Load          bool     `name:"load" help:"Not supported: bkctl has no docker daemon to load into."`
	Output        []string `short:"o" name:"output" sep:"none" help:"Output: type=image|registry|oci|tar|local,… (repeatable)."`
	BuildArg      []string `name:"build-arg" sep:"none" help:"Build-time variable NAME=VALUE (NAME alone takes it from the environment)."`
	Target        string   `name:"target" help:"Target stage to build."`
	Label         []string `name:"label" sep:"none" help:"Image label NAME=VALUE."`
	Secret        []string `name:"secret" sep:"none" help:"Secret for the build: id=ID,src=PATH or id=ID,env=VAR."`
	SSH           []string `name:"ssh" sep:"none" help:"SSH agent socket or keys for the build: default|ID[=SOCKET|KEY[,…]]."`
	CacheFrom     []string `name:"cache-from" sep:"none" help:"Cache import: type=registry,ref=REF (or REF)."`
	CacheTo       []string `name:"cache-to" sep:"none" help:"Cache export: type=registry,ref=REF,mode=max or type=inline."`
	NoCache       bool     `name:"no-cache" help:"Do not use the cache."`
	MetadataFile  string   `name:"metadata-file" help:"Write the build result metadata (buildx's JSON) to this file."`
	Progress      string   `name:"progress" enum:"auto,plain,tty,rawjson,quiet,none" default:"auto" help:"Progress output: auto, plain, tty, rawjson, quiet, none."`
	Quiet         bool     `short:"q" name:"quiet" help:"Suppress the build output and print the image ID on success."`
	IIDFile       string   `name:"iidfile" help:"Write the image ID to a file."`
	Attest        []string `name:"attest" sep:"none" help:"Attestation: type=provenance|sbom,… (e.g. type=sbom,generator=image)."`
	Provenance    string   `name:"provenance" help:"Shorthand for --attest=type=provenance (true, false or mode=min|max,…); image outputs get mode=min by default (BUILDX_NO_DEFAULT_ATTESTATIONS=1 turns it off)."`
	SBOM          string   `name:"sbom" help:"Shorthand for --attest=type=sbom."`
	Annotation    []string `name:"annotation" sep:"none" help:"Add an annotation to the image: [TYPE[PLATFORM],…:]KEY=VALUE, TYPE index, manifest, index-descriptor, manifest-descriptor."`
	Allow         []string `name:"allow" sep:"none" help:"Allow an extra privileged entitlement (network.host, security.insecure, device)."`
	Network       string   `name:"network" default:"default" help:"Networking mode of RUN: default, host, none."`
	AddHost       []string `name:"add-host" help:"Add a custom host-to-IP mapping (HOST:IP)."`
	Pull          bool     `name:"pull" help:"Always attempt to pull all referenced images."`
	NoCacheFilter []string `name:"no-cache-filter" sep:"none" help:"Do not cache the named stages."`
	ShmSize       string   `name:"shm-size" help:"Shared memory size of RUN (e.g. 128m)."`
	Ulimit        []string `name:"ulimit" sep:"none" help:"Ulimit of RUN: NAME=SOFT[:HARD]."`
	CgroupParent  string   `name:"cgroup-parent" help:"Parent cgroup of RUN."`
	Resource      []string `name:"resource" sep:"none" help:"Resource limit of RUN: KEY=VALUE, KEY memory, memory-swap (-1 unlimited), cpu-shares, cpu-period, cpu-quota, cpuset-cpus, cpuset-mems (repeatable; e.g. memory=2g, cpu-quota=50000)."`
	Memory        string   `short:"m" name:"memory" hidden:"" help:"Same as --resource memory=VALUE."`
	MemorySwap    minusOne `name:"memory-swap" hidden:"" help:"Same as --resource memory-swap=VALUE."`
	CPUShares     string   `short:"c" name:"cpu-shares" hidden:"" help:"Same as --resource cpu-shares=VALUE."`
	CPUPeriod     string   `name:"cpu-period" hidden:"" help:"Same as --resource cpu-period=VALUE."`
	CPUQuota      minusOne `name:"cpu-quota" hidden:"" help:"Same as --resource cpu-quota=VALUE."`
	CpusetCPUs    string   `name:"cpuset-cpus" hidden:"" help:"Same as --resource cpuset-cpus=VALUE."`
	CpusetMems    string   `name:"cpuset-mems" hidden:"" help:"Same as --resource cpuset-mems=VALUE."`
	Call          string   `name:"call" default:"build" help:"Method of evaluating the build: build, check, outline, targets[,format=json][,ignorestatus=true]."`
	Check         bool     `name:"check" help:"Shorthand for --call=check."`
	BuildContext  []string `name:"build-context" sep:"none" help:"Named context NAME=DIR|oci-layout://PATH@DIGEST|docker-image://REF."`
	StickyKey     string   `name:"sticky-key" help:"Key of the pod choice on sticky nodes (default: the absolute context path, like buildx)."`
}

func (c *runCmd) Help() string {
	return `Runs a build like 'docker buildx build' on the pods of a builder from the builders file,
through 'kubectl exec' of 'buildctl dial-stdio' as buildx's kubernetes driver does. Each
platform builds on the node that declares it, else on the first node whose workers report it
(QEMU); nodes build in parallel and a pushed multi-node result is one image index. A node's pod
is chosen by its loadbalance: sticky (the same context goes to the same pod) or random.

There is no docker daemon to load an image into: --load, type=docker and a node's
defaultLoad are errors; push the image or export it instead.

The flags are those of 'docker buildx build' v0.38.2, with its syntax and defaults: image
outputs get a mode=min provenance attestation unless --provenance=false or
BUILDX_NO_DEFAULT_ATTESTATIONS=1, and SOURCE_DATE_EPOCH from the environment becomes a build
arg. Left out: --load (no docker daemon); --policy (buildx's policy engine, Open Policy
Agent, would add its package init to every bkctl command); --compress, --isolation,
--security-opt, --squash, --rm, --force-rm, which buildx itself ignores. --builder picks a
builder of the builders file (--builders-file), not a docker context.

--resource limits the memory and CPU of every RUN; buildx's older flags -m/--memory,
--memory-swap, -c/--cpu-shares, --cpu-period, --cpu-quota, --cpuset-cpus and --cpuset-mems
(hidden, as in buildx) set the same keys, and --resource wins where both name one.

Examples:
  bkctl run --builder kube -t registry.example/app:1 --push .
  bkctl run --builders-file ci/builders.yaml --platform linux/amd64,linux/arm64 -t reg/app:1 --push .
  bkctl run -o type=oci,dest=app.tar --secret id=npm,src=$HOME/.npmrc .
  bkctl run --check .
  git archive HEAD | bkctl run -t reg/app:1 --push -
  bkctl run --sbom=true --annotation index:org.opencontainers.image.source=URL -t reg/app:1 --push https://git.example/app.git#main`
}

func (c *runCmd) Run(ctx context.Context, s streams, kube *kubeFlags) error {
	f, b, err := builderOfFiles(c.BuildersFile, c.Builder, "the Dockerfile", kube, s)
	if err != nil {
		return err
	}
	opts, err := c.options(s)
	if err != nil {
		return &exitCode{code: 1, err: err}
	}
	if c.IIDFile != "" {
		if err := buildrun.CheckIIDFile(opts.Outputs); err != nil {
			return &exitCode{code: 1, err: err}
		}
		_ = os.Remove(c.IIDFile)
	}
	if c.Load {
		return &exitCode{code: 1, err: fmt.Errorf("--load: %w", buildrun.ErrNoLoad)}
	}
	cfg, err := kube.restConfig()
	if err != nil {
		return err
	}
	target, err := toBuilder(cfg, f, b)
	if err != nil {
		return &exitCode{code: 1, err: err}
	}
	if len(opts.Outputs) == 0 && opts.CallFunc == nil {
		for _, n := range b.Nodes {
			if n.DefaultLoad {
				return &exitCode{code: 1, err: fmt.Errorf("node %s sets defaultLoad: %w", n.Name, buildrun.ErrNoLoad)}
			}
		}
		s.printf("WARNING: no output specified: the result stays in the build cache only (hint: --push or --output)\n")
	}
	res, err := buildrun.Build(ctx, target, opts)
	if err != nil {
		return &exitCode{code: 1, err: clusterErr(err, cfg.Host)}
	}
	if opts.CallFunc != nil {
		code, err := buildrun.PrintCall(s.Out, opts.CallFunc, res.Call)
		if err != nil {
			return &exitCode{code: 1, err: err}
		}
		if code != 0 {
			return &exitCode{code: code}
		}
		return nil
	}
	if c.Quiet {
		fmt.Fprintln(s.Out, buildrun.ImageID(res.ExporterResponse))
	}
	if c.IIDFile != "" {
		if err := os.WriteFile(c.IIDFile, []byte(buildrun.ImageID(res.ExporterResponse)), 0o644); err != nil {
			return &exitCode{code: 1, err: fmt.Errorf("write image ID file: %w", err)}
		}
	}
	if c.MetadataFile != "" {
		if err := writeMetadata(c.MetadataFile, b.Name, res); err != nil {
			return &exitCode{code: 1, err: err}
		}
	}
	return nil
}

func (c *runCmd) options(s streams) (buildrun.Options, error) {
	o := buildrun.DefaultOptions()
	o.ContextDir, o.Dockerfile, o.Platforms, o.Target = c.Context, c.File, c.Platform, c.Target
	o.Tags, o.NoCache, o.StickyKey = c.Tag, c.NoCache, c.StickyKey
	o.Progress, o.ProgressMode, o.Stdout, o.Stdin = s.Err, c.Progress, s.Out, s.In
	switch {
	case c.Quiet && c.Progress != "auto" && c.Progress != "quiet":
		return o, fmt.Errorf("--progress=%s and --quiet cannot be used together", c.Progress)
	case c.Quiet, c.Progress == "none":
		o.ProgressMode = "quiet"
	}
	o.DockerConfigDir = os.Getenv("DOCKER_CONFIG") // read per run, not once per process
	var err error
	if o.Outputs, err = buildrun.ParseOutputs(c.Output, c.Push); err != nil {
		return o, err
	}
	if o.BuildArgs, err = buildrun.ParseKeyValues(c.BuildArg, os.LookupEnv); err != nil {
		return o, err
	}
	if o.Labels, err = buildrun.ParseKeyValues(c.Label, nil); err != nil {
		return o, err
	}
	if o.NamedContexts, err = buildrun.ParseKeyValues(c.BuildContext, nil); err != nil {
		return o, err
	}
	if o.CacheFrom, err = buildrun.ParseCache(c.CacheFrom, false); err != nil {
		return o, err
	}
	if o.CacheTo, err = buildrun.ParseCache(c.CacheTo, true); err != nil {
		return o, err
	}
	flags := buildrun.BuildFlags{Attest: c.Attest, Provenance: c.Provenance, SBOM: c.SBOM,
		Annotation: c.Annotation, Allow: c.Allow, Network: c.Network, AddHost: c.AddHost,
		Pull: c.Pull, NoCacheFilter: c.NoCacheFilter, ShmSize: c.ShmSize, Ulimit: c.Ulimit,
		CgroupParent: c.CgroupParent, Call: c.Call, Check: c.Check, Secret: c.Secret, SSH: c.SSH}
	legacy, err := buildrun.LegacyResources{Memory: c.Memory, MemorySwap: string(c.MemorySwap), CPUShares: c.CPUShares,
		CPUPeriod: c.CPUPeriod, CPUQuota: string(c.CPUQuota), CpusetCPUs: c.CpusetCPUs, CpusetMems: c.CpusetMems}.Entries()
	if err != nil {
		return o, err
	}
	flags.Resource = append(legacy, c.Resource...)
	if err := flags.Apply(&o, os.LookupEnv); err != nil {
		return o, err
	}
	return o, nil
}

// builderOfFiles loads the builders files and returns the builder named name (or the only
// one) and its file. dashF says what -f names in the command, for the hint when the builders
// file is missing.
func builderOfFiles(files []string, name, dashF string, kube *kubeFlags, s streams) (*spec.File, *spec.Builder, error) {
	invs, err := loadInventories(fileFlags{Filenames: files}, kube, s)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, usageErr(fmt.Errorf("%w (hint: --builders-file names the builders file; -f is %s, as in buildx)", err, dashF))
	}
	if err != nil {
		return nil, nil, err
	}
	f, err := pickFile(invs, name)
	if err != nil {
		return nil, nil, err
	}
	b, err := pickBuilder(f, name)
	if err != nil {
		return nil, nil, usageErr(err)
	}
	return f, b, nil
}

// pickFile returns the inventory that holds the builder named name, or the only one.
func pickFile(invs []inventory, name string) (*spec.File, error) {
	if len(invs) == 1 {
		return invs[0].file, nil
	}
	if name == "" {
		return nil, usageErr(fmt.Errorf("the builders files hold %d inventories (hint: choose a builder with --builder)", len(invs)))
	}
	for _, inv := range invs {
		for _, b := range inv.file.Builders {
			if b.Name == name {
				return inv.file, nil
			}
		}
	}
	return nil, usageErr(fmt.Errorf("builder %q is in none of the builders files", name))
}

// pickBuilder returns the named builder, or the only one when name is empty.
func pickBuilder(f *spec.File, name string) (*spec.Builder, error) {
	if name == "" {
		if len(f.Builders) == 1 {
			return &f.Builders[0], nil
		}
		return nil, fmt.Errorf("%s defines %d builders (hint: choose one with --builder)", f.Path, len(f.Builders))
	}
	for i := range f.Builders {
		if f.Builders[i].Name == name {
			return &f.Builders[i], nil
		}
	}
	return nil, fmt.Errorf("builder %q is not in %s", name, f.Path)
}

// toBuilder gives every node of b its pod exec transport. Node names default as render names
// them.
func toBuilder(cfg *rest.Config, f *spec.File, b *spec.Builder) (buildrun.Builder, error) {
	ns := b.Namespace
	out := buildrun.Builder{Name: b.Name}
	for i, n := range b.Nodes {
		if n.Name == "" {
			n.Name = fmt.Sprintf("%s%d", b.Name, i)
		}
		t, err := podexec.NewPodExec(cfg, ns, n.Name)
		if err != nil {
			return out, err
		}
		out.Nodes = append(out.Nodes, buildrun.Node{Name: n.Name, Platforms: n.Platforms, Loadbalance: n.Loadbalance, Transport: t})
	}
	return out, nil
}

// writeMetadata writes the result in the shape of buildx's --metadata-file.
func writeMetadata(path, builder string, res *buildrun.Result) error {
	return writeJSONFile(path, metadataOf(builder, res))
}

// metadataOf is a result as buildx's --metadata-file holds it: the exporter response with
// base64 JSON values decoded, and buildx.build.ref.
func metadataOf(builder string, res *buildrun.Result) map[string]any {
	out := map[string]any{}
	for k, v := range res.ExporterResponse {
		out[k] = v
		if dt, err := base64.StdEncoding.DecodeString(v); err == nil {
			var raw map[string]any
			if json.Unmarshal(dt, &raw) == nil && len(raw) > 0 {
				out[k] = json.RawMessage(dt)
			}
		}
	}
	if len(res.Builds) > 0 {
		nb := res.Builds[0]
		out["buildx.build.ref"] = builder + "/" + nb.Node + "/" + nb.Ref
	}
	return out
}

// writeJSONFile writes v to path as indented JSON.
func writeJSONFile(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write metadata file: %w", err)
	}
	return nil
}

// minusOne is a flag whose value may be -1 (--memory-swap -1, --cpu-quota -1: no limit), which
// it takes from the next argument too, as buildx's flags do, instead of reading it as a flag.
type minusOne string

// Decode implements kong.MapperValue.
func (f *minusOne) Decode(ctx *kong.DecodeContext) error {
	t := ctx.Scan.Pop()
	if s, ok := t.Value.(string); ok && (t.IsValue() || s == "-1") {
		*f = minusOne(s)
		return nil
	}
	return fmt.Errorf("expected a value or -1 but got %q", t)
}
