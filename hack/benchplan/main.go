// Command benchplan measures bkctl plan and a no-op bkctl apply against kubectl diff
// --server-side and kubectl apply --server-side on a generated 50 builders × 2 nodes file, in a
// real test environment, and prints median wall times and ratios (make bench-plan).
package main

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"k8s.io/client-go/rest"

	"github.com/bkctl/bkctl/hack/bench"
	"github.com/bkctl/bkctl/internal/apply"
	"github.com/bkctl/bkctl/internal/render"
	"github.com/bkctl/bkctl/internal/spec"
)

func main() {
	runs := flag.Int("runs", 7, "measured runs of each command")
	builders := flag.Int("builders", 50, "builders in the generated file (2 nodes each)")
	bin := flag.String("bkctl", "bin/bkctl", "the bkctl binary")
	flag.Parse()
	if err := run(*bin, *builders, *runs); err != nil {
		fmt.Fprintf(os.Stderr, "benchplan: %v\n", err)
		os.Exit(1)
	}
}

func run(bin string, builders, runs int) error {
	ctx := context.Background()
	env, stop, err := bench.Env(ctx)
	if err != nil {
		return err
	}
	defer stop()
	ns, err := env.CreateNamespace(ctx, "bench-plan")
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "benchplan")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	file := filepath.Join(dir, "builders.yaml")
	if err := os.WriteFile(file, generate(ns, builders), 0o644); err != nil {
		return err
	}
	kubectl := filepath.Join(env.BinDir, "kubectl")
	rendered := filepath.Join(dir, "rendered.yaml")
	out, err := exec.Command(bin, "render", "-f", file).Output()
	if err != nil {
		return fmt.Errorf("render: %w", err)
	}
	if err := os.WriteFile(rendered, out, 0o644); err != nil {
		return err
	}
	kc := "--kubeconfig=" + env.Kubeconfig
	if out, err := exec.Command(bin, "apply", "-f", file, kc).CombinedOutput(); err != nil {
		return fmt.Errorf("first apply: %w\n%s", err, out)
	}

	cmds := []struct {
		name string
		args []string
		ok   func(error) bool
	}{
		{"bkctl plan", []string{bin, "plan", "-f", file, kc}, nil},
		{"kubectl diff --server-side", []string{kubectl, "diff", "--server-side", "--field-manager=bkctl", "--force-conflicts", "-f", rendered, kc}, bench.ExitOneOK},
		{"bkctl apply (no-op)", []string{bin, "apply", "-f", file, kc}, nil},
		{"kubectl apply --server-side", []string{kubectl, "apply", "--server-side", "--field-manager=bkctl", "--force-conflicts", "-f", rendered, kc}, nil},
	}
	times := make([][]time.Duration, len(cmds))
	for r := 0; r < runs+1; r++ { // the first round warms caches and is not counted
		for i, c := range cmds {
			start := time.Now()
			cmd := exec.Command(c.args[0], c.args[1:]...)
			cmd.Env = append(os.Environ(), "KUBECTL_EXTERNAL_DIFF=true")
			out, err := cmd.CombinedOutput()
			took := time.Since(start)
			if err != nil && (c.ok == nil || !c.ok(err)) {
				return fmt.Errorf("%s: %w\n%s", c.name, err, out)
			}
			if r > 0 {
				times[i] = append(times[i], took)
			}
		}
	}
	// in-process, to count requests; its tooling annotation (bkctl/devel) may differ from the
	// binary's version, so the first run may rewrite the parent and the second is counted
	if _, _, err := requestsOfNoopApply(ctx, env.Config, file); err != nil {
		return err
	}
	n, dryRuns, err := requestsOfNoopApply(ctx, env.Config, file)
	if err != nil {
		return err
	}
	med := make([]time.Duration, len(cmds))
	fmt.Printf("%d builders × 2 nodes (%d objects), %d runs each, alternating; medians:\n", builders, strings.Count(string(out), "\nkind:")+1, runs)
	for i, c := range cmds {
		med[i] = bench.Median(times[i])
		fmt.Printf("  %-30s %8.0f ms\n", c.name, float64(med[i].Microseconds())/1000)
	}
	fmt.Printf("plan / kubectl diff:   %.2f× (goal ≤ 0.30×)\n", float64(med[0])/float64(med[1]))
	fmt.Printf("apply / kubectl apply: %.2f× (goal ≤ 0.50×)\n", float64(med[2])/float64(med[3]))
	fmt.Printf("mutating requests of a no-op bkctl apply: %d (goal 0)\n", n)
	fmt.Printf("dry-runs of a no-op bkctl apply: %d (of %d objects)\n", dryRuns, strings.Count(string(out), "\nkind:")+1)
	return nil
}

func generate(ns string, builders int) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "apiVersion: bkctl/v1alpha1\nkind: Builders\nmetadata:\n  name: bench\n  namespace: %s\nbuilders:\n", ns)
	for i := range builders {
		fmt.Fprintf(&b, `  - name: b%02d
    nodes:
      - name: b%02d-amd64
        platforms: [linux/amd64]
        nodeSelector: {kubernetes.io/arch: amd64}
      - name: b%02d-arm64
        platforms: [linux/arm64]
        nodeSelector: {kubernetes.io/arch: arm64}
        buildkitd:
          config: |
            debug = true
`, i, i, i)
	}
	return []byte(b.String())
}

// requestsOfNoopApply applies the file in-process through a transport that counts requests
// other than GETs and dry-runs (mutating), and dry-runs.
func requestsOfNoopApply(ctx context.Context, cfg *rest.Config, file string) (mutating, dryRuns int64, err error) {
	var n, d atomic.Int64
	cfg = rest.CopyConfig(cfg)
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper {
		return roundTripper(func(r *http.Request) (*http.Response, error) {
			switch {
			case strings.Contains(r.URL.RawQuery, "dryRun="):
				d.Add(1)
			case r.Method != http.MethodGet:
				n.Add(1)
			}
			return rt.RoundTrip(r)
		})
	})
	res, err := spec.Load(file, nil)
	if err != nil {
		return 0, 0, err
	}
	objs, err := render.Render(res.File)
	if err != nil {
		return 0, 0, err
	}
	m, err := apply.NewManager(cfg, apply.DefaultManagerOptions())
	if err != nil {
		return 0, 0, err
	}
	set := render.ApplySet(res.File)
	p, err := m.Plan(ctx, set, objs)
	if err != nil {
		return 0, 0, err
	}
	if _, err := m.Apply(ctx, set, p, apply.DefaultOptions()); err != nil {
		return 0, 0, err
	}
	return n.Load(), d.Load(), nil
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
