package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/bkctl/bkctl/hack/bench"
)

// buildxResult is one builder of 2 replicas made ready, by bkctl apply and by buildx create
// --bootstrap, in alternating runs.
type buildxResult struct {
	bkctl, buildx []time.Duration
	bkctlLines    []string // bkctl's own "ready after" line of each run
}

// The one builder both tools create: same node name, namespace, replicas and node selector.
const oneBuilder = `apiVersion: bkctl/v1alpha1
kind: Builders
metadata: {name: one, namespace: NS}
builders:
  - name: one
    nodes:
      - name: one0
        replicas: 2
        nodeSelector: {kubernetes.io/arch: amd64}
`

func (b *bencher) buildx(ctx context.Context, runs int) (*buildxResult, error) {
	res := &buildxResult{}
	buildx := filepath.Join(b.env.BinDir, "buildx")
	for i := range runs {
		fmt.Fprintf(os.Stderr, "benchscale: one builder, run %d of %d ...\n", i+1, runs)
		nsB, err := b.env.CreateNamespace(ctx, "one-bkctl")
		if err != nil {
			return nil, err
		}
		nsX, err := b.env.CreateNamespace(ctx, "one-buildx")
		if err != nil {
			return nil, err
		}
		file := filepath.Join(b.dir, "one.yaml")
		if err := os.WriteFile(file, []byte(strings.ReplaceAll(oneBuilder, "NS", nsB)), 0o644); err != nil {
			return nil, err
		}
		bx := filepath.Join(b.dir, fmt.Sprintf("buildx-%d", i))
		xArgs := []string{buildx, "create", "--name", "one", "--driver", "kubernetes", "--node", "one0",
			"--driver-opt", "namespace=" + nsX + ",replicas=2,nodeselector=kubernetes.io/arch=amd64", "--bootstrap"}
		xEnv := []string{"BUILDX_CONFIG=" + bx, "DOCKER_CONFIG=" + bx, "KUBECONFIG=" + b.env.Kubeconfig}
		bArgs := []string{b.bin, "apply", "-f", file, "--kubeconfig=" + b.env.Kubeconfig}
		order := []bool{true, false} // bkctl first on even runs, buildx first on odd ones
		if i%2 == 1 {
			order = []bool{false, true}
		}
		for _, isBkctl := range order {
			if isBkctl {
				r := bench.Command(nil, bArgs...)
				if r.Err != nil {
					return nil, fmt.Errorf("bkctl apply: %w\n%s", r.Err, tail(r.Out))
				}
				res.bkctl = append(res.bkctl, r.Wall)
				for _, l := range strings.Split(string(r.Out), "\n") {
					if strings.Contains(l, "ready after") {
						res.bkctlLines = append(res.bkctlLines, strings.TrimSpace(l))
					}
				}
				continue
			}
			r := bench.Command(xEnv, xArgs...)
			if r.Err != nil {
				return nil, fmt.Errorf("buildx create: %w\n%s", r.Err, tail(r.Out))
			}
			res.buildx = append(res.buildx, r.Wall)
		}
		_ = b.env.DeleteNamespace(ctx, nsB)
		_ = b.env.DeleteNamespace(ctx, nsX)
	}
	return res, nil
}

func (r *buildxResult) print(w io.Writer) {
	ms := func(ds []time.Duration) string {
		var s []string
		for _, d := range ds {
			s = append(s, fmt.Sprintf("%d", d.Milliseconds()))
		}
		return strings.Join(s, ", ") + " ms"
	}
	mb, mx := bench.Median(r.bkctl), bench.Median(r.buildx)
	fmt.Fprintf(w, "one builder, 2 replicas, apply to ready (%d alternating runs each):\n", len(r.bkctl))
	fmt.Fprintf(w, "  bkctl apply                  median %4d ms  (%s)\n", mb.Milliseconds(), ms(r.bkctl))
	fmt.Fprintf(w, "  buildx create --bootstrap    median %4d ms  (%s)\n", mx.Milliseconds(), ms(r.buildx))
	fmt.Fprintf(w, "  ratio %.2f× (goal ≤ 1.0×)\n", mb.Seconds()/mx.Seconds())
	for _, l := range r.bkctlLines {
		fmt.Fprintf(w, "  bkctl: %s\n", l)
	}
	fmt.Fprintln(w)
}
