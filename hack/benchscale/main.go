// Command benchscale measures bkctl at fleet size against kubectl doing the same work, in a real
// test environment (make bench-scale): for generated builders files of N nodes (one Deployment
// each, replicas: 0, so no daemon starts), the wall time, peak RSS and API requests (counted by
// a proxy in front of the API server) of a plan of the new file, an apply until ready, a plan in
// sync, a no-op apply and a plan after the image of every node changed; and the
// controller-manager's floor under an apply to ready. It also times one builder of 2 replicas,
// bkctl apply against the real buildx create --bootstrap, alternating. It prints a table and
// asserts nothing.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"k8s.io/client-go/kubernetes"

	"github.com/bkctl/bkctl/hack/bench"
	"github.com/bkctl/bkctl/internal/testenv"
)

func main() {
	sizes := flag.String("sizes", "100,1000,3000", "node counts of the generated files (one Deployment each)")
	readyMax := flag.Int("ready-max", 1000, "largest size measured to ready (above it, apply --wait=false and kubectl apply only: the controller-manager takes minutes per thousand)")
	buildxRuns := flag.Int("buildx-runs", 5, "alternating runs of bkctl apply and buildx create --bootstrap for one builder (0 skips)")
	bin := flag.String("bkctl", "bin/bkctl", "the bkctl binary")
	flag.Parse()
	var ns []int
	for _, s := range strings.Split(*sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			fmt.Fprintf(os.Stderr, "benchscale: -sizes: %q is not a count\n", s)
			os.Exit(2)
		}
		ns = append(ns, n)
	}
	if err := run(*bin, ns, *readyMax, *buildxRuns); err != nil {
		fmt.Fprintf(os.Stderr, "benchscale: %v\n", err)
		os.Exit(1)
	}
}

func run(bin string, sizes []int, readyMax, buildxRuns int) error {
	ctx := context.Background()
	if abs, err := filepath.Abs(bin); err == nil {
		bin = abs
	}
	env, stop, err := bench.Env(ctx)
	if err != nil {
		return err
	}
	defer stop()
	dir, err := os.MkdirTemp("", "benchscale")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	proxy, err := bench.StartProxy(env.Config, dir)
	if err != nil {
		return err
	}
	defer proxy.Close()
	cs, err := kubernetes.NewForConfig(env.Config)
	if err != nil {
		return err
	}
	b := &bencher{env: env, bin: bin, kubectl: filepath.Join(env.BinDir, "kubectl"), dir: dir, proxy: proxy, cs: cs}
	fmt.Printf("machine: %d CPUs, load average %s at start\n", numCPU(), loadavg())
	var tables []sizeResult
	for _, n := range sizes {
		r, err := b.size(ctx, n, n <= readyMax)
		if err != nil {
			return fmt.Errorf("%d objects: %w", n, err)
		}
		tables = append(tables, r)
		r.print(os.Stderr) // as it goes; the whole table follows at the end
	}
	var bx *buildxResult
	if buildxRuns > 0 {
		if bx, err = b.buildx(ctx, buildxRuns); err != nil {
			return fmt.Errorf("one builder: %w", err)
		}
	}
	fmt.Printf("load average at end: %s\n\n", loadavg())
	for _, r := range tables {
		r.print(os.Stdout)
	}
	if bx != nil {
		bx.print(os.Stdout)
	}
	return nil
}

// bencher runs the commands of one benchmark.
type bencher struct {
	env     *testenv.Env
	bin     string
	kubectl string
	dir     string
	proxy   *bench.Proxy
	cs      kubernetes.Interface
}

// measured is one command's wall time, peak RSS and requests.
type measured struct {
	bench.Run
	Requests bench.Snapshot
}

// measure runs args through the proxy (args get its kubeconfig) and counts its requests.
func (b *bencher) measure(ok func(error) bool, env []string, args ...string) (measured, error) {
	before := b.proxy.Snapshot()
	r := bench.Command(env, append(args, "--kubeconfig="+b.proxy.Kubeconfig)...)
	m := measured{Run: r, Requests: b.proxy.Snapshot().Sub(before)}
	if r.Err != nil && (ok == nil || !ok(r.Err)) {
		return m, fmt.Errorf("%s: %w\n%s", strings.Join(args[:2], " "), r.Err, tail(r.Out))
	}
	return m, nil
}

func tail(b []byte) string {
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

func numCPU() int {
	data, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return 0
	}
	return strings.Count(string(data), "\nprocessor") + 1
}

func loadavg() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(data))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// since is d in seconds, for the table.
func secs(d time.Duration) string { return fmt.Sprintf("%.2fs", d.Seconds()) }
