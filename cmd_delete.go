package main

import (
	"context"
	"fmt"

	"github.com/bkctl/bkctl/internal/apply"
)

type deleteCmd struct {
	fileFlags
	outputFlag
	PrunePVCs bool `name:"prune-pvcs" help:"Also delete the volume claims (build caches) of its StatefulSets."`
}

func (c *deleteCmd) Help() string {
	return `Deletes every object of the files' inventories (the members labelled with its ApplySet
ID, wherever the inventory recorded them) and then the inventory itself. Objects that are not
members are never touched; volume claims of StatefulSets are kept unless --prune-pvcs.

Examples:
  bkctl delete
  bkctl delete -f builders.yaml --prune-pvcs
  bkctl delete -f ci/ -o json`
}

func (c *deleteCmd) Run(ctx context.Context, s streams, kube *kubeFlags) error {
	t, err := prepare(c.fileFlags, kube, s)
	if err != nil {
		return err
	}
	opts := apply.DefaultOptions()
	opts.Wait, opts.PrunePVCs = false, c.PrunePVCs
	opts.Progress = progressPrinter(s)
	var results []resultJSON
	for _, inv := range t.inventories {
		p, err := t.manager.PlanDelete(ctx, inv.set, inv.objs)
		if err != nil {
			return &exitCode{code: 1, err: err}
		}
		if !p.Pending() {
			results = append(results, resultDoc(&apply.Result{Plan: p}, nil))
			if c.Output == "text" {
				fmt.Fprintf(s.Out, "%s: nothing to delete\n", p.Name)
			}
			continue
		}
		res, err := t.manager.Apply(ctx, inv.set, p, opts)
		if err != nil {
			err = stoppedErr(ctx, err)
		}
		if res != nil {
			results = append(results, resultDoc(res, err))
		}
		if err != nil {
			if c.Output != "text" {
				if jerr := writeDocs(s, c.Output, "DeleteResult", results); jerr != nil {
					return jerr
				}
			}
			return stopped(s, "delete", res, err)
		}
		if c.Output == "text" {
			fmt.Fprintf(s.Out, "Delete complete: %d objects and the inventory %s deleted.\n", len(res.Pruned), p.Inventory.Ref)
		}
	}
	if c.Output != "text" {
		return writeDocs(s, c.Output, "DeleteResult", results)
	}
	return nil
}
