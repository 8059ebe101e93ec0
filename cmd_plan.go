package main

import (
	"context"
	"fmt"
	"math"
	"os"
	"runtime/debug"
	"time"

	"golang.org/x/term"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/bkctl/bkctl/internal/apply"
	"github.com/bkctl/bkctl/internal/diff"
	"github.com/bkctl/bkctl/internal/render"
	"github.com/bkctl/bkctl/internal/spec"
)

type planCmd struct {
	fileFlags
	outputFlag
	ExitCode bool `name:"exit-code" help:"Exit 2 when changes are pending, 0 when in sync (like terraform plan -detailed-exitcode)."`
}

func (c *planCmd) Help() string {
	return `Validates and renders the files, then asks the cluster what applying them would change:
one server-side apply dry-run per object (field manager bkctl), compared with the live objects
of the file's inventory; an object that bkctl's last apply (recorded in the inventory) proves
unchanged, with no field taken or changed by anyone since, needs no dry-run. Prints a summary
per builder node, the list of objects (+ create, ~ update, - prune, = unchanged, ! conflict)
and unified diffs of the YAML. Drift (kubectl edit or scale) shows as an update; a field
another applier owns shows as a conflict naming it. Nothing is written.

Files that share a metadata.name are one inventory; each inventory gets its own plan.

Exit status: 0 success, 1 error; with --exit-code, 2 when changes are pending.

Examples:
  bkctl plan
  bkctl plan -f builders.yaml --exit-code --context prod
  bkctl plan -f ci/ -n buildkit
  bkctl plan -o json | jq '.objects[] | select(.action != "unchanged")'`
}

func (c *planCmd) Run(ctx context.Context, s streams, kube *kubeFlags) error {
	t, err := prepare(c.fileFlags, kube, s)
	if err != nil {
		return err
	}
	plans, err := t.plan(ctx)
	if err != nil {
		return &exitCode{code: 1, err: err}
	}
	if err := writePlans(s, plans, c.Output); err != nil {
		return err
	}
	if c.ExitCode && pending(plans) {
		return &exitCode{code: 2}
	}
	return nil
}

// target is a loaded and rendered fleet with a manager for its cluster.
type target struct {
	inventories []inventory
	manager     *apply.Manager
}

// inventory is one inventory of the fleet: its files gathered, rendered.
type inventory struct {
	file *spec.File
	objs []*unstructured.Unstructured
	set  render.ApplySetRef
}

// prepare validates and renders the files before it builds a client, so that an invalid file
// never reaches a cluster.
func prepare(ff fileFlags, kube *kubeFlags, s streams) (*target, error) {
	limitMemory()
	invs, err := loadInventories(ff, kube, s)
	if err != nil {
		return nil, err
	}
	cfg, err := kube.restConfig()
	if err != nil {
		return nil, err
	}
	opts := apply.DefaultManagerOptions()
	opts.Tooling = "bkctl/" + versionInfo().Version
	m, err := apply.NewManager(cfg, opts)
	if err != nil {
		return nil, &exitCode{code: 1, err: err}
	}
	return &target{inventories: invs, manager: m}, nil
}

// memoryLimit is the soft memory limit of plan, apply and delete, unless GOMEMLIMIT sets one:
// near it the garbage collector runs more often, instead of letting the heap grow to twice what
// the plan of a large fleet holds. It is soft: a plan that holds more is slower, never refused.
const memoryLimit = 100 << 20

func limitMemory() {
	if debug.SetMemoryLimit(-1) == math.MaxInt64 {
		debug.SetMemoryLimit(memoryLimit)
	}
}

// loadInventories loads the fleet, gives the files that name no namespace the one of -n or
// of the kubeconfig context, and renders each inventory.
func loadInventories(ff fileFlags, kube *kubeFlags, s streams) ([]inventory, error) {
	fleet, err := ff.load(s)
	if err != nil {
		return nil, err
	}
	if err := setNamespace(fleet, kube); err != nil {
		return nil, err
	}
	invs := make([]inventory, 0, len(fleet))
	for _, f := range fleet {
		objs, err := render.Render(f)
		if err != nil {
			return nil, &exitCode{code: 1, err: err}
		}
		invs = append(invs, inventory{file: f, objs: objs, set: render.ApplySet(f)})
	}
	return invs, nil
}

// setNamespace applies kubectl's rule for -n: it is the namespace of what names none, and an
// object that names another one is an error rather than silently elsewhere.
func setNamespace(fleet []*spec.File, kube *kubeFlags) error {
	ns, explicit, err := kube.namespace()
	if err != nil {
		return err
	}
	for _, f := range fleet {
		if explicit && !f.Metadata.DefaultNamespace && f.Metadata.Namespace != ns {
			return usageErr(fmt.Errorf("%s: metadata.namespace is %q, but -n is %q (hint: drop -n, or make them agree)", f.Path, f.Metadata.Namespace, ns))
		}
		f.SetNamespace(ns)
	}
	return nil
}

// plan plans every inventory of the fleet.
func (t *target) plan(ctx context.Context) ([]*diff.Plan, error) {
	plans := make([]*diff.Plan, 0, len(t.inventories))
	for _, inv := range t.inventories {
		p, err := t.manager.Plan(ctx, inv.set, inv.objs)
		if err != nil {
			return nil, err
		}
		plans = append(plans, p)
	}
	return plans, nil
}

func pending(plans []*diff.Plan) bool {
	for _, p := range plans {
		if p.Pending() {
			return true
		}
	}
	return false
}

// writePlans prints the plans: as text one after the other, as JSON or YAML a Plan (a PlanList
// for several inventories).
func writePlans(s streams, plans []*diff.Plan, output string) error {
	if output != "text" {
		docs := make([]any, 0, len(plans))
		for _, p := range plans {
			docs = append(docs, diff.Document(p))
		}
		return writeDocs(s, output, "Plan", docs)
	}
	opts := diff.DefaultTextOptions()
	opts.Color = colorful(s)
	for i, p := range plans {
		if i > 0 {
			fmt.Fprintln(s.Out)
		}
		if err := diff.WriteText(s.Out, p, opts); err != nil {
			return err
		}
	}
	return nil
}

// colorful reports whether stdout is a terminal and NO_COLOR is unset.
func colorful(s streams) bool {
	if _, ok := os.LookupEnv("NO_COLOR"); ok {
		return false
	}
	f, ok := s.Out.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// timeouts returns each node's readiness timeout, by workload, over every inventory.
func timeouts(invs []inventory) func(diff.Ref) time.Duration {
	byNode := map[[2]string]time.Duration{}
	for _, inv := range invs {
		for _, b := range inv.file.Builders {
			for i, n := range b.Nodes {
				name := n.Name
				if name == "" {
					name = fmt.Sprintf("%s%d", b.Name, i)
				}
				byNode[[2]string{b.Namespace, name}] = n.Timeout
			}
		}
	}
	return func(r diff.Ref) time.Duration {
		if t := byNode[[2]string{r.Namespace, r.Name}]; t > 0 {
			return t
		}
		return spec.DefaultTimeout
	}
}
