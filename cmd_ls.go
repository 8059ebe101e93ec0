package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/bkctl/bkctl/internal/inspect"
)

// inspectFlags choose the builders that ls and status report and how long a pod may take.
type inspectFlags struct {
	Filenames     []string      `short:"f" name:"filename" placeholder:"FILE" help:"Builders file or directory whose builders to report (repeatable; - reads stdin); without it, the builders bkctl manages in the cluster."`
	AllNamespaces bool          `short:"A" name:"all-namespaces" help:"Without -f: look in every namespace (default: -n, else the context's namespace)."`
	Timeout       time.Duration `default:"5s" help:"How long each pod's buildkitd may take to answer; a pod that takes longer shows an error."`
	outputFlag
}

type lsCmd struct {
	inspectFlags
	Builder string `predictor:"builder" help:"Report only this builder."`
	NoTrunc bool   `name:"no-trunc" help:"List every platform instead of counting variants (as docker buildx ls --no-trunc)."`
}

func (c *lsCmd) Help() string {
	return `Lists builders like 'docker buildx ls': each builder, its nodes with their workload
(Deployment or StatefulSet), status and ready/desired replicas, and each pod with the
buildkit version and platforms its daemon's workers report (declared platforms are marked
with *). Daemons are asked in parallel through pod exec of 'buildctl dial-stdio'; a pod that
cannot be reached in --timeout shows status "error" and the reason in its row, and the
command still succeeds.

Without -f, lists the builders bkctl manages in the cluster (labels
app.kubernetes.io/managed-by=bkctl and bkctl.dev/builder) in -n, else the kubeconfig
context's namespace; -A lists them in every namespace.

Examples:
  bkctl ls -A
  bkctl ls -n buildkit
  bkctl ls -f builders.yaml -o json | jq '.items[].nodes[] | {name, readyReplicas}'`
}

func (c *lsCmd) Run(ctx context.Context, s streams, kube *kubeFlags) error {
	bs, err := c.inspect(ctx, s, kube, c.Builder, inspect.DefaultOptions())
	if err != nil {
		return err
	}
	if c.Output != "text" {
		return writeBuilderDocs(s, c.Output, "BuilderList", bs)
	}
	return inspect.WriteList(s.Out, bs, !c.NoTrunc)
}

// inspect finds the builders the flags select and asks their pods; the builder named builder
// only, when it is set.
func (f inspectFlags) inspect(ctx context.Context, s streams, kube *kubeFlags, builder string, opts inspect.Options) ([]inspect.Builder, error) {
	if len(f.Filenames) > 0 && f.AllNamespaces {
		return nil, usageErr(errors.New("-A/--all-namespaces selects builders in the cluster; with -f the files say where they are"))
	}
	var targets []inspect.Target
	if len(f.Filenames) > 0 {
		invs, err := loadInventories(fileFlags{Filenames: f.Filenames}, kube, s)
		if err != nil {
			return nil, err
		}
		for _, inv := range invs {
			ts, err := inspect.FromFile(inv.file, builder)
			if err != nil && len(invs) == 1 {
				return nil, &exitCode{code: 1, err: err}
			}
			targets = append(targets, ts...)
		}
		if len(targets) == 0 {
			return nil, &exitCode{code: 1, err: fmt.Errorf("builder %q is in none of the files", builder)}
		}
	}
	cfg, err := kube.restConfig()
	if err != nil {
		return nil, err
	}
	in, err := inspect.New(cfg)
	if err != nil {
		return nil, &exitCode{code: 1, err: err}
	}
	if len(f.Filenames) == 0 {
		ns := ""
		if !f.AllNamespaces {
			if ns, _, err = kube.namespace(); err != nil {
				return nil, err
			}
		}
		if targets, err = in.Discover(ctx, ns, builder); err != nil {
			return nil, &exitCode{code: 1, err: clusterErr(err, cfg.Host)}
		}
	}
	opts.Timeout = f.Timeout
	bs, err := in.Inspect(ctx, targets, opts)
	if err != nil {
		return nil, &exitCode{code: 1, err: clusterErr(err, cfg.Host)}
	}
	return bs, nil
}

// writeBuilderDocs prints the builders as a document of kind (BuilderList, BuilderStatus).
func writeBuilderDocs(s streams, format, kind string, bs []inspect.Builder) error {
	if bs == nil {
		bs = []inspect.Builder{}
	}
	return writeDoc(s, format, kind, struct {
		Items []inspect.Builder `json:"items"`
	}{bs})
}
