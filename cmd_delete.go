package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/bkctl/bkctl/internal/apply"
	"github.com/bkctl/bkctl/internal/diff"
)

type deleteCmd struct {
	fileFlags
	outputFlag
	PrunePVCs bool          `name:"prune-pvcs" help:"Also delete the volume claims (build caches) of its StatefulSets."`
	DryRun    dryRunFlag    `name:"dry-run" default:"none" placeholder:"none|client|server" help:"client or server: only print what would be deleted (the plan of the delete); nothing but reads is sent. A bare --dry-run is server."`
	Wait      bool          `help:"Wait until the deleted objects, and the pods of deleted workloads, are gone."`
	Timeout   time.Duration `default:"5m" help:"How long --wait waits."`
	Yes       bool          `short:"y" help:"Delete namespaces that the files created without asking."`
}

func (c *deleteCmd) Help() string {
	return `Deletes every object of the files' inventories (the members labelled with its ApplySet
ID, wherever the inventory recorded them) and then the inventory itself. Objects that are not
members are never touched; volume claims of StatefulSets are kept unless --prune-pvcs.

--dry-run prints the plan of the delete (every object, "- prune") and sends only reads.
--wait deletes workloads in the foreground, so that each exists until its pods are gone, and
waits until every deleted object is gone, with progress on stderr.

A namespace that the file created (createNamespace) is deleted with everything in it, also
objects bkctl does not manage. On a terminal bkctl asks first; --yes skips the question. When
stdin is not a terminal (a script, CI), such a delete is refused unless --yes is given, so that
nothing destructive happens without a decision.

Examples:
  bkctl delete
  bkctl delete -f builders.yaml --dry-run
  bkctl delete -f builders.yaml --wait
  bkctl delete -f ci/ --yes --prune-pvcs -o json`
}

func (c *deleteCmd) Run(ctx context.Context, s streams, kube *kubeFlags) error {
	t, err := prepare(c.fileFlags, kube, s)
	if err != nil {
		return err
	}
	plans := make([]*diff.Plan, 0, len(t.inventories))
	var namespaces []string
	for _, inv := range t.inventories {
		p, err := t.manager.PlanDelete(ctx, inv.set, inv.objs)
		if err != nil {
			return &exitCode{code: 1, err: err}
		}
		plans = append(plans, p)
		namespaces = append(namespaces, p.PrunedNamespaces()...)
	}
	if c.DryRun != dryRunNone {
		return writePlans(s, plans, c.Output)
	}
	if len(namespaces) > 0 && !c.Yes {
		if err := confirm(s, namespaces); err != nil {
			return &exitCode{code: 1, err: err}
		}
	}
	opts := apply.DefaultOptions()
	opts.Wait, opts.PrunePVCs, opts.Foreground = false, c.PrunePVCs, c.Wait
	opts.Progress = progressPrinter(s)
	var results []resultJSON
	for i, inv := range t.inventories {
		p := plans[i]
		if !p.Pending() {
			results = append(results, resultDoc(&apply.Result{Plan: p}, nil))
			if c.Output == "text" {
				fmt.Fprintf(s.Out, "%s: nothing to delete\n", p.Name)
			}
			continue
		}
		res, err := t.manager.Apply(ctx, inv.set, p, opts)
		if err == nil && c.Wait {
			wctx, cancel := context.WithTimeout(ctx, c.Timeout)
			err = t.manager.WaitGone(wctx, inv.set, res.Pruned, opts.Progress)
			cancel()
		}
		if err != nil {
			err = stoppedErr(ctx, err)
		}
		if res != nil {
			results = append(results, resultDoc(res, err))
		}
		if err != nil {
			return stoppedFleet(s, c.Output, "delete", results, res, err)
		}
		if c.Output == "text" {
			gone := "deleted"
			if c.Wait {
				gone = "deleted and gone"
			}
			fmt.Fprintf(s.Out, "Delete complete: %d objects and the inventory %s %s.\n", len(res.Pruned), p.Inventory.Ref, gone)
		}
	}
	if c.Output != "text" {
		return writeDocs(s, c.Output, "DeleteResult", results)
	}
	return nil
}

// confirm asks on a terminal whether to delete namespaces, and refuses when stdin is not one:
// a namespace takes everything in it along, which no script should do without --yes.
func confirm(s streams, namespaces []string) error {
	what := "namespace " + strings.Join(namespaces, ", ")
	if len(namespaces) > 1 {
		what = "namespaces " + strings.Join(namespaces, ", ")
	}
	in, ok := s.In.(*os.File)
	if !ok || !term.IsTerminal(int(in.Fd())) {
		return fmt.Errorf("delete would remove %s, with everything in it, and stdin is not a terminal to confirm (hint: pass --yes, or --dry-run to see what would be deleted)", what)
	}
	s.printf("Delete %s, with everything in it? [y/N] ", what)
	line, _ := bufio.NewReader(in).ReadString('\n')
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "y", "yes":
		return nil
	}
	return fmt.Errorf("delete cancelled: %s kept, nothing deleted", what)
}
