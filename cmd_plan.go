package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"time"

	"golang.org/x/term"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/bkctl/bkctl/internal/apply"
	"github.com/bkctl/bkctl/internal/diff"
	"github.com/bkctl/bkctl/internal/render"
	"github.com/bkctl/bkctl/internal/spec"
)

// clusterFlags select the cluster like kubectl; only the commands that talk to one have them.
type clusterFlags struct {
	Kubeconfig string `help:"Path to the kubeconfig file (default: KUBECONFIG, then ~/.kube/config)." type:"path"`
	Context    string `name:"context" help:"The kubeconfig context to use."`
}

type planCmd struct {
	clusterFlags
	File     string `short:"f" name:"filename" required:"" help:"Builders file (- reads stdin)."`
	Output   string `short:"o" enum:"text,json" default:"text" help:"Output format: text or json."`
	ExitCode bool   `name:"exit-code" help:"Exit 2 when changes are pending, 0 when in sync (like terraform plan -detailed-exitcode)."`
}

func (c *planCmd) Help() string {
	return `Validates and renders the file, then asks the cluster what applying it would change:
one server-side apply dry-run per object (field manager bkctl), compared with the live objects
of the file's inventory; an object that bkctl's last apply (recorded in the inventory) proves
unchanged, with no field taken or changed by anyone since, needs no dry-run. Prints a summary per builder node, the list of objects
(+ create, ~ update, - prune, = unchanged, ! conflict) and unified diffs of the YAML.
Drift (kubectl edit or scale) shows as an update; a field another applier owns shows as a
conflict naming it. Nothing is written.

Exit status: 0 success, 1 error; with --exit-code, 2 when changes are pending.

Examples:
  bkctl plan -f builders.yaml
  bkctl plan -f builders.yaml --exit-code --context prod
  bkctl plan -f builders.yaml -o json | jq '.objects[] | select(.action != "unchanged")'`
}

func (c *planCmd) Run(ctx context.Context, s streams) error {
	t, err := prepare(ctx, c.File, c.clusterFlags, s)
	if err != nil {
		return err
	}
	p, err := t.manager.Plan(ctx, t.set, t.objs)
	if err != nil {
		return &exitCode{code: 1, err: err}
	}
	if err := writePlan(s, p, c.Output); err != nil {
		return err
	}
	if c.ExitCode && p.Pending() {
		return &exitCode{code: 2}
	}
	return nil
}

// target is a loaded and rendered builders file with a manager for its cluster.
type target struct {
	file    *spec.File
	objs    []*unstructured.Unstructured
	set     render.ApplySetRef
	manager *apply.Manager
}

// prepare validates and renders the file before it builds a client, so that an invalid file
// never reaches a cluster.
func prepare(_ context.Context, path string, cf clusterFlags, s streams) (*target, error) {
	f, err := loadFile(path, s)
	if err != nil {
		return nil, err
	}
	objs, err := render.Render(f)
	if err != nil {
		return nil, &exitCode{code: 1, err: err}
	}
	cfg, err := apply.RESTConfig(apply.ClientOptions{Kubeconfig: cf.Kubeconfig, Context: cf.Context, WrapTransport: testWrapTransport})
	if err != nil {
		return nil, &exitCode{code: 1, err: err}
	}
	opts := apply.DefaultManagerOptions()
	opts.Tooling = "bkctl/" + versionInfo().Version
	m, err := apply.NewManager(cfg, opts)
	if err != nil {
		return nil, &exitCode{code: 1, err: err}
	}
	return &target{file: f, objs: objs, set: render.ApplySet(f), manager: m}, nil
}

// testWrapTransport lets tests of package main count the requests a command sends.
var testWrapTransport func(http.RoundTripper) http.RoundTripper

func writePlan(s streams, p *diff.Plan, output string) error {
	if output == "json" {
		return diff.WriteJSON(s.Out, p)
	}
	opts := diff.DefaultTextOptions()
	opts.Color = colorful(s)
	return diff.WriteText(s.Out, p, opts)
}

// colorful reports whether stdout is a terminal and NO_COLOR is unset.
func colorful(s streams) bool {
	if _, ok := os.LookupEnv("NO_COLOR"); ok {
		return false
	}
	f, ok := s.Out.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// timeouts returns each node's readiness timeout, by workload.
func timeouts(f *spec.File) func(diff.Ref) time.Duration {
	byNode := map[[2]string]time.Duration{}
	for _, b := range f.Builders {
		ns := b.Namespace
		if ns == "" {
			ns = f.Metadata.Namespace
		}
		for i, n := range b.Nodes {
			name := n.Name
			if name == "" {
				name = fmt.Sprintf("%s%d", b.Name, i)
			}
			byNode[[2]string{ns, name}] = n.Timeout
		}
	}
	return func(r diff.Ref) time.Duration {
		if t := byNode[[2]string{r.Namespace, r.Name}]; t > 0 {
			return t
		}
		return spec.DefaultTimeout
	}
}
