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
	Builder string `help:"Builder to report (default with -f: the file's only builder)."`
}

func (c *statusCmd) Help() string {
	return `Shows the pods of one builder: node, Kubernetes node, ready containers, restarts and
age, and what each pod's buildkitd reports: version, cache size (disk usage of all records)
and the reclaimable part, completed builds in its history and when the last one finished.
A pod that cannot be reached in --timeout shows the reason in its row.

Without -f, finds the builder by bkctl's labels in every namespace or in -n; a name found
in several namespaces needs -n.

Examples:
  bkctl status --builder kube
  bkctl status -f builders.yaml
  bkctl status --builder kube -n buildkit -o json | jq '.builders[].nodes[].pods[].daemon.history.lastBuild'`
}

func (c *statusCmd) Run(ctx context.Context, s streams) error {
	builder := c.Builder
	if builder == "" {
		if c.File == "" {
			return &exitCode{code: 1, err: fmt.Errorf("status needs --builder NAME (hint: bkctl ls lists them)")}
		}
		f, err := loadFile(c.File, s)
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
	bs, err := c.inspect(ctx, s, builder, opts)
	if err != nil {
		return err
	}
	if len(bs) == 0 {
		where := "any namespace"
		if c.Namespace != "" {
			where = "namespace " + c.Namespace
		}
		return &exitCode{code: 1, err: fmt.Errorf("no builder %q managed by bkctl in %s (hint: bkctl ls)", builder, where)}
	}
	if len(bs) > 1 {
		var nss []string
		for _, b := range bs {
			nss = append(nss, b.Namespace)
		}
		slices.Sort(nss)
		return &exitCode{code: 1, err: fmt.Errorf("builder %q is in namespaces %s (hint: choose one with -n)", builder, strings.Join(nss, ", "))}
	}
	if c.Output == "json" {
		return writeBuildersJSON(s, bs)
	}
	return inspect.WriteStatus(s.Out, bs, time.Now())
}
