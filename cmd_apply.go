package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/bkctl/bkctl/internal/apply"
	"github.com/bkctl/bkctl/internal/diff"
	"github.com/bkctl/bkctl/internal/render"
)

type applyCmd struct {
	fileFlags
	outputFlag
	DryRun         dryRunFlag    `name:"dry-run" default:"none" placeholder:"none|client|server" help:"none: apply; client: print the objects that would be sent (as render); server: print what would change (as plan). A bare --dry-run is server."`
	ForceConflicts bool          `name:"force-conflicts" help:"Take over fields that other appliers own."`
	ForceReplace   bool          `name:"force-replace" help:"Delete and recreate the objects whose change the API server refuses as an update (immutable fields, a node switching between Deployment and StatefulSet)."`
	Prune          bool          `default:"true" negatable:"" help:"Delete members the file no longer renders (--prune=false keeps them)."`
	PrunePVCs      bool          `name:"prune-pvcs" help:"Also delete the volume claims (build caches) of pruned StatefulSets."`
	Wait           bool          `default:"true" negatable:"" help:"Wait until changed builders are rolled out (per-node timeout)."`
	Timeout        time.Duration `help:"How long to wait for each builder node to roll out, instead of the nodes' timeout fields (default: each node's timeout, 120s when it has none)."`
	Buildx         bool          `help:"After a successful apply, also write each builder as a docker buildx instance (as bkctl buildx write does)."`
	buildxConfigFlag
}

func (c *applyCmd) Help() string {
	return `Validates the files (nothing is sent when one is invalid), plans, and then applies with
server-side apply (field manager bkctl): namespaces first, only the objects whose dry-run
differs from the cluster, so that applying an unchanged file writes nothing. It records the
file's inventory (a kubectl ApplySet), prunes members the file no longer renders once every
apply succeeded, and waits for the changed builders to roll out, with progress on stderr.
A field another applier owns stops the apply before anything is written, unless
--force-conflicts. So does a change the API server refuses as an update (plan marks it
"± replace" with the field: a selector, a StatefulSet's volume claim size or storage class,
a node whose storage moves between persistentVolume and memory), unless --force-replace:
it deletes only those objects, waits until they are gone, and creates them again. Their pods
restart; a StatefulSet's volume claims are kept unless --prune-pvcs. An empty builders list
removes everything the inventory holds. Files that share a metadata.name are one inventory;
inventories are applied one after the other.

A node's rollout may take its timeout field (120s by default); --timeout replaces it for every
node. A node not ready in time is reported with its status and why its pods are not ready.
An apply that stops early (an API error, a lost connection, Ctrl-C or SIGTERM) says in which
step and what it had done: nothing is pruned before every apply succeeded, and the inventory
keeps listing every member until it is pruned, so running the same apply again finishes the job.

Exit status: 0 success or in sync, 1 error (invalid file, API error, conflict, timeout,
interrupted).

Examples:
  bkctl apply
  bkctl apply -f builders.yaml --force-conflicts
  bkctl apply -f builders.yaml --force-replace
  bkctl apply -f builders.yaml --prune=false --wait=false
  bkctl apply -f builders.yaml --dry-run=server -o json
  bkctl apply -f builders.yaml --timeout 5m --request-timeout 10s
  bkctl apply -f builders.yaml --buildx && docker buildx build --builder kube .`
}

func (c *applyCmd) Run(ctx context.Context, s streams, kube *kubeFlags) error {
	if c.Timeout < 0 {
		return usageErr(fmt.Errorf("--timeout %s: must not be negative", c.Timeout))
	}
	if c.DryRun == dryRunClient {
		return renderInventories(s, c.fileFlags, kube, c.Output)
	}
	t, err := prepare(c.fileFlags, kube, s)
	if err != nil {
		return err
	}
	plans, err := t.plan(ctx)
	if err != nil {
		return &exitCode{code: 1, err: err}
	}
	if c.DryRun == dryRunServer {
		return writePlans(s, plans, c.Output)
	}
	if c.Output == "text" {
		if err := writePlans(s, plans, "text"); err != nil {
			return err
		}
	}
	opts := apply.DefaultOptions()
	opts.ForceConflicts, opts.ForceReplace, opts.Prune, opts.PrunePVCs, opts.Wait = c.ForceConflicts, c.ForceReplace, c.Prune, c.PrunePVCs, c.Wait
	opts.Timeout = timeouts(t.inventories)
	if c.Timeout > 0 {
		opts.Timeout = func(diff.Ref) time.Duration { return c.Timeout }
	}
	opts.Progress = progressPrinter(s)
	var results []resultJSON
	for i, inv := range t.inventories {
		res, err := t.manager.Apply(ctx, inv.set, plans[i], opts)
		if err != nil {
			err = stoppedErr(ctx, err)
		}
		if res != nil {
			results = append(results, resultDoc(res, err))
		}
		if err != nil {
			return stoppedFleet(s, c.Output, "apply", results, res, err)
		}
		if c.Output == "text" {
			fmt.Fprintln(s.Out, resultLine(res))
		}
	}
	if c.Output != "text" {
		if err := writeDocs(s, c.Output, "ApplyResult", results); err != nil {
			return err
		}
	}
	if c.Buildx {
		return c.writeBuildx(ctx, s, t, kube)
	}
	return nil
}

// renderInventories prints the objects of every inventory, as render does (--dry-run=client).
func renderInventories(s streams, ff fileFlags, kube *kubeFlags, output string) error {
	invs, err := loadInventories(ff, kube, s)
	if err != nil {
		return err
	}
	var objs []*unstructured.Unstructured
	for _, inv := range invs {
		objs = append(objs, inv.objs...)
	}
	if output == "json" {
		return render.WriteJSON(s.Out, objs)
	}
	return render.WriteYAML(s.Out, objs)
}

// writeBuildx records the applied builders in buildx's store. buildx's kubernetes driver uses
// the kubeconfig's current context, which the instance cannot name: a --context is only noted.
func (c *applyCmd) writeBuildx(ctx context.Context, s streams, t *target, kube *kubeFlags) error {
	dir, err := c.dir()
	if err != nil {
		return &exitCode{code: 1, err: err}
	}
	if kube.Context != "" {
		s.printf("note: buildx will use the kubeconfig's current context, not --context %s\n", kube.Context)
	}
	kubeconfig := kube.Kubeconfig
	if kubeconfig == "" {
		kubeconfig = os.Getenv("KUBECONFIG")
	}
	for _, inv := range t.inventories {
		written, err := writeBuildx(ctx, s, inv.file, dir, "", kubeconfig)
		if err != nil {
			return err
		}
		for _, w := range written {
			s.printf("buildx: %s\n", writtenLine(w))
		}
	}
	return nil
}

func resultLine(r *apply.Result) string {
	if r.InSync() {
		return "Apply complete: in sync, nothing changed."
	}
	n := map[diff.Action]int{}
	for _, c := range r.Applied {
		n[c.Action]++
	}
	replaced := ""
	if n[diff.Replace] > 0 {
		replaced = fmt.Sprintf("%d replaced, ", n[diff.Replace])
	}
	return fmt.Sprintf("Apply complete: %d created, %d updated, %s%d pruned, %d ready.",
		n[diff.Create], n[diff.Update]+n[diff.Conflict], replaced, len(r.Pruned), len(r.Ready))
}

// progressPrinter renders apply events on stderr, one line each; events come from concurrent
// waits, so lines are written whole under a lock.
func progressPrinter(s streams) func(apply.Event) {
	var mu sync.Mutex
	return func(e apply.Event) {
		var line string
		switch e.Type {
		case apply.EventApplied:
			verb := map[diff.Action]string{diff.Create: "created", diff.Update: "updated", diff.Conflict: "updated (fields taken over)", diff.Replace: "created again"}[e.Action]
			line = fmt.Sprintf("%s: %s", e.Ref, verb)
		case apply.EventReplaced:
			line = fmt.Sprintf("%s: deleted, to be created again", e.Ref)
		case apply.EventPruned:
			line = fmt.Sprintf("%s: pruned", e.Ref)
		case apply.EventKept:
			line = fmt.Sprintf("%s: kept, %s", e.Ref, e.Message)
		case apply.EventWaiting:
			if e.Elapsed == 0 {
				line = fmt.Sprintf("%s: waiting for rollout (%s)", e.Ref, e.Message)
			} else {
				line = fmt.Sprintf("%s: %s (%s)", e.Ref, e.Message, e.Elapsed.Round(100*time.Millisecond))
			}
		case apply.EventReady:
			line = fmt.Sprintf("%s: ready after %s", e.Ref, e.Elapsed.Round(10*time.Millisecond))
		case apply.EventGone:
			line = fmt.Sprintf("%s: gone after %s", e.Ref, e.Elapsed.Round(10*time.Millisecond))
		case apply.EventFailed:
			line = fmt.Sprintf("%s: not ready after %s (%s): %s", e.Ref, e.Elapsed.Round(100*time.Millisecond), e.Status, e.Message)
		}
		mu.Lock()
		defer mu.Unlock()
		s.printf("%s\n", line)
	}
}

// resultJSON is the ApplyResult (and DeleteResult) document: the plan it carried out and what
// it did, every object as a diff.Ref like the plan's objects.
type resultJSON struct {
	Name      string     `json:"name"`
	Namespace string     `json:"namespace"`
	Plan      any        `json:"plan"`
	InSync    bool       `json:"inSync"`
	Applied   []diff.Ref `json:"applied"`
	Pruned    []diff.Ref `json:"pruned"`
	PVCs      []diff.Ref `json:"prunedClaims"`
	// Replaced are the objects deleted to be created again (--force-replace).
	Replaced []diff.Ref `json:"replaced,omitempty"`
	Ready    []diff.Ref `json:"ready"`
	// NotReady are the workloads that did not roll out in time, with why.
	NotReady []notReadyJSON `json:"notReady,omitempty"`
	// StoppedWhile is the step a failed apply stopped in; nothing of a later step was done.
	StoppedWhile string `json:"stoppedWhile,omitempty"`
	Error        string `json:"error,omitempty"`
}

type notReadyJSON struct {
	Object  diff.Ref `json:"object"`
	Status  string   `json:"status"`
	Message string   `json:"message"`
	Timeout string   `json:"timeout"`
}

func resultDoc(r *apply.Result, applyErr error) resultJSON {
	out := resultJSON{Name: r.Plan.Name, Namespace: r.Plan.Namespace, Plan: diff.Document(r.Plan), InSync: r.InSync(),
		Applied: []diff.Ref{}, Pruned: refs(r.Pruned), PVCs: refs(r.PVCs), Ready: refs(r.Ready), Replaced: r.Replaced}
	for _, c := range r.Applied {
		out.Applied = append(out.Applied, c.Ref)
	}
	if applyErr != nil {
		out.Error = applyErr.Error()
	}
	if se := (*apply.StepError)(nil); errors.As(applyErr, &se) {
		out.StoppedWhile = string(se.Step)
	}
	if we := (*apply.WaitError)(nil); errors.As(applyErr, &we) {
		for _, f := range we.Failures {
			out.NotReady = append(out.NotReady, notReadyJSON{Object: f.Ref, Status: f.Status, Message: f.Message, Timeout: f.Timeout.String()})
		}
	}
	return out
}

// refs is rs, never nil, so that JSON shows [] rather than null.
func refs(rs []diff.Ref) []diff.Ref {
	if rs == nil {
		return []diff.Ref{}
	}
	return rs
}
