package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/bkctl/bkctl/internal/inspect"
)

type statusCmd struct {
	inspectFlags
	Name    string `arg:"" optional:"" name:"builder" predictor:"builder" help:"Builder to report (default with -f: the files' only builder)."`
	Builder string `help:"Builder to report, as the argument does." hidden:""`
}

func (c *statusCmd) Help() string {
	return `Shows the pods of one builder: node, Kubernetes node, ready containers, restarts and
age, and what each pod's buildkitd reports: version, cache size (disk usage of all records)
and the reclaimable part, completed builds in its history and when the last one finished.
A pod that cannot be reached in --timeout shows the reason in its row.

Without -f, finds the builder by bkctl's labels in -n, else the kubeconfig context's
namespace; with -A in every namespace, where a name found in several namespaces needs -n.

Examples:
  bkctl status kube
  bkctl status -f builders.yaml
  bkctl status kube -A
  bkctl status kube -n buildkit -o json | jq '.items[].nodes[].pods[].daemon.history.lastBuild'`
}

func (c *statusCmd) Run(ctx context.Context, s streams, kube *kubeFlags) error {
	builder := c.Name
	if c.Builder != "" {
		if builder != "" && builder != c.Builder {
			return usageErr(fmt.Errorf("status %s --builder %s: name one builder", builder, c.Builder))
		}
		builder = c.Builder
	}
	if builder == "" {
		if len(c.Filenames) == 0 {
			return usageErr(fmt.Errorf("status needs a builder name: bkctl status NAME (hint: bkctl ls lists them)"))
		}
		f, err := fileFlags{Filenames: c.Filenames}.loadOne(s)
		if err != nil {
			return err
		}
		b, err := pickBuilder(f, "")
		if err != nil {
			return &exitCode{code: 1, err: err}
		}
		builder = b.Name
	}
	opts := inspect.DefaultOptions()
	opts.Usage = true
	bs, err := c.inspect(ctx, s, kube, builder, opts)
	if err != nil {
		return err
	}
	if len(bs) == 0 {
		where := "any namespace"
		if !c.AllNamespaces && len(c.Filenames) == 0 {
			ns, _, _ := kube.namespace()
			where = "namespace " + ns
		}
		return &exitCode{code: 1, err: fmt.Errorf("no builder %q managed by bkctl in %s (hint: bkctl ls -A lists them all)", builder, where)}
	}
	if len(bs) > 1 {
		var nss []string
		for _, b := range bs {
			nss = append(nss, b.Namespace)
		}
		slices.Sort(nss)
		return &exitCode{code: 1, err: fmt.Errorf("builder %q is in namespaces %s (hint: choose one with -n)", builder, strings.Join(nss, ", "))}
	}
	if c.Output != "text" {
		return writeBuilderDocs(s, c.Output, "BuilderStatus", bs)
	}
	return inspect.WriteStatus(s.Out, bs, time.Now())
}
