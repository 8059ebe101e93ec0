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
)

type deleteCmd struct {
	clusterFlags
	File      string        `short:"f" name:"filename" required:"" help:"Builders file whose inventory to delete (- reads stdin)."`
	PrunePVCs bool          `name:"prune-pvcs" help:"Also delete the volume claims (build caches) of its StatefulSets."`
	DryRun    bool          `name:"dry-run" help:"Only print what would be deleted; nothing but reads is sent."`
	Wait      bool          `help:"Wait until the deleted objects, and the pods of deleted workloads, are gone."`
	Timeout   time.Duration `default:"5m" help:"How long --wait waits."`
	Yes       bool          `short:"y" help:"Delete namespaces that the file created without asking."`
	Output    string        `short:"o" enum:"text,json" default:"text" help:"Output format: text or json."`
}

func (c *deleteCmd) Help() string {
	return `Deletes every object of the file's inventory (the members labelled with its ApplySet
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
  bkctl delete -f builders.yaml --dry-run
  bkctl delete -f builders.yaml --wait
  bkctl delete -f builders.yaml --yes --prune-pvcs`
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
	if c.DryRun {
		return writePlan(s, p, c.Output)
	}
	if !p.Pending() {
		if c.Output == "json" {
			return writeResultJSON(s, &apply.Result{Plan: p}, nil)
		}
		fmt.Fprintf(s.Out, "%s: nothing to delete\n", p.Name)
		return nil
	}
	if nss := p.PrunedNamespaces(); len(nss) > 0 && !c.Yes {
		if err := confirm(s, nss); err != nil {
			return &exitCode{code: 1, err: err}
		}
	}
	opts := apply.DefaultOptions()
	opts.Wait, opts.PrunePVCs, opts.Foreground = false, c.PrunePVCs, c.Wait
	opts.Progress = progressPrinter(s)
	res, err := t.manager.Apply(ctx, t.set, p, opts)
	if err == nil && c.Wait {
		wctx, cancel := context.WithTimeout(ctx, c.Timeout)
		err = t.manager.WaitGone(wctx, t.set, res.Pruned, opts.Progress)
		cancel()
	}
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
		gone := "deleted"
		if c.Wait {
			gone = "deleted and gone"
		}
		fmt.Fprintf(s.Out, "Delete complete: %d objects and the inventory %s %s.\n", len(res.Pruned), p.Inventory.Ref, gone)
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
