package main

import (
	"context"
	"fmt"

	"github.com/bkctl/bkctl/internal/apply"
)

type deleteCmd struct {
	clusterFlags
	File      string `short:"f" name:"filename" required:"" help:"Builders file whose inventory to delete (- reads stdin)."`
	PrunePVCs bool   `name:"prune-pvcs" help:"Also delete the volume claims (build caches) of its StatefulSets."`
	Output    string `short:"o" enum:"text,json" default:"text" help:"Output format: text or json."`
}

func (c *deleteCmd) Help() string {
	return `Deletes every object of the file's inventory (the members labelled with its ApplySet
ID, wherever the inventory recorded them) and then the inventory itself. Objects that are not
members are never touched; volume claims of StatefulSets are kept unless --prune-pvcs.

Examples:
  bkctl delete -f builders.yaml
  bkctl delete -f builders.yaml --prune-pvcs`
}

func (c *deleteCmd) Run(ctx context.Context, s streams) error {
	t, err := prepare(ctx, c.File, c.clusterFlags, s)
	if err != nil {
		return err
	}
	p, err := t.manager.PlanDelete(ctx, t.set, t.objs)
	if err != nil {
		return &exitCode{code: 1, err: err}
	}
	if !p.Pending() {
		if c.Output == "json" {
			return writeResultJSON(s, &apply.Result{Plan: p}, nil)
		}
		fmt.Fprintf(s.Out, "%s: nothing to delete\n", p.Name)
		return nil
	}
	opts := apply.DefaultOptions()
	opts.Wait, opts.PrunePVCs = false, c.PrunePVCs
	opts.Progress = progressPrinter(s)
	res, err := t.manager.Apply(ctx, t.set, p, opts)
	if err != nil {
		err = stoppedErr(ctx, err)
	}
	if c.Output == "json" {
		if jerr := writeResultJSON(s, res, err); jerr != nil {
			return jerr
		}
	}
	if err != nil {
		return stopped(s, "delete", res, err)
	}
	if c.Output == "text" {
		fmt.Fprintf(s.Out, "Delete complete: %d objects and the inventory %s deleted.\n", len(res.Pruned), p.Inventory.Ref)
	}
	return nil
}
