package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/bkctl/bkctl/internal/apply"
	"github.com/bkctl/bkctl/internal/inspect"
)

// inspectFlags choose the builders that ls and status report and how long a pod may take.
type inspectFlags struct {
	clusterFlags
	File      string        `short:"f" name:"filename" help:"Builders file whose builders to report (- reads stdin); without it, the builders bkctl manages in the cluster."`
	Namespace string        `short:"n" name:"namespace" help:"Without -f: look only in this namespace (default: all namespaces)."`
	Timeout   time.Duration `default:"5s" help:"How long each pod's buildkitd may take to answer; a pod that takes longer shows an error."`
	Output    string        `short:"o" enum:"text,json" default:"text" help:"Output format: text or json."`
}

type lsCmd struct {
	inspectFlags
	Builder string `help:"Report only this builder."`
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
app.kubernetes.io/managed-by=bkctl and bkctl.dev/builder), in every namespace or in -n.

Examples:
  bkctl ls
  bkctl ls -n buildkit
  bkctl ls -f builders.yaml -o json | jq '.builders[].nodes[] | {name, readyReplicas}'`
}

func (c *lsCmd) Run(ctx context.Context, s streams) error {
	bs, err := c.inspect(ctx, s, c.Builder, inspect.DefaultOptions())
	if err != nil {
		return err
	}
	if c.Output == "json" {
		return writeBuildersJSON(s, bs)
	}
	return inspect.WriteList(s.Out, bs, !c.NoTrunc)
}

// inspect finds the builders the flags select and asks their pods; the builder named builder
// only, when it is set.
func (f inspectFlags) inspect(ctx context.Context, s streams, builder string, opts inspect.Options) ([]inspect.Builder, error) {
	if f.File != "" && f.Namespace != "" {
		return nil, &exitCode{code: 1, err: errors.New("-n/--namespace selects builders in the cluster; with -f the file says where they are")}
	}
	var targets []inspect.Target
	if f.File != "" {
		file, err := loadFile(f.File, s)
		if err != nil {
			return nil, err
		}
		if targets, err = inspect.FromFile(file, builder); err != nil {
			return nil, &exitCode{code: 1, err: err}
		}
	}
	cfg, err := apply.RESTConfig(apply.ClientOptions{Kubeconfig: f.Kubeconfig, Context: f.Context, WrapTransport: testWrapTransport})
	if err != nil {
		return nil, &exitCode{code: 1, err: err}
	}
	in, err := inspect.New(cfg)
	if err != nil {
		return nil, &exitCode{code: 1, err: err}
	}
	if f.File == "" {
		if targets, err = in.Discover(ctx, f.Namespace, builder); err != nil {
			return nil, &exitCode{code: 1, err: err}
		}
	}
	opts.Timeout = f.Timeout
	bs, err := in.Inspect(ctx, targets, opts)
	if err != nil {
		return nil, &exitCode{code: 1, err: err}
	}
	return bs, nil
}

func writeBuildersJSON(s streams, bs []inspect.Builder) error {
	if bs == nil {
		bs = []inspect.Builder{}
	}
	enc := json.NewEncoder(s.Out)
	enc.SetIndent("", "  ")
	if err := enc.Encode(map[string]any{"builders": bs}); err != nil {
		return fmt.Errorf("write json: %w", err)
	}
	return nil
}
