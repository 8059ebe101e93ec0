package buildrun_test

import (
	"cmp"
	"context"
	"crypto/rand"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bkctl/bkctl/internal/buildrun"
	"github.com/bkctl/bkctl/internal/podexec"
)

// BenchmarkTransport builds a 100 MB context through pod exec (websocket and SPDY) and through a
// direct unix-socket connection to the same daemon. Every build sends fresh content, so the whole
// context crosses each time; a warm-up build per transport comes first, and the order rotates
// from round to round so that drift of the machine hits each transport alike. It reports the
// medians and exec's share of direct throughput.
func BenchmarkTransport(b *testing.B) {
	lazy.Require(b)
	t := &testing.T{}
	ns, err := env.CreateNamespace(context.Background(), "bench-transport")
	if err != nil {
		b.Fatal(err)
	}
	defer env.DeleteNamespace(context.Background(), ns)
	bld := applyBuilder(t, builderYAML(ns, "sticky", 1))
	pods, err := bld.Nodes[0].Transport.Daemons(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	addr, err := env.PodDaemon(context.Background(), ns, pods[0])
	if err != nil {
		b.Fatal(err)
	}
	via := func(tr podexec.Transport) buildrun.Builder {
		v := bld
		v.Nodes = slices.Clone(bld.Nodes)
		v.Nodes[0].Transport = tr
		return v
	}
	withProtocol := func(p podexec.ExecProtocol) buildrun.Builder {
		pe := *bld.Nodes[0].Transport.(*podexec.PodExec)
		pe.Protocol = p
		return via(&pe)
	}
	targets := []struct {
		name string
		b    buildrun.Builder
	}{
		{"direct", via(podexec.Direct{pods[0]: addr})},
		{"exec", bld}, // the default protocol
		{"websocket", withProtocol(podexec.ExecWebSocket)},
		{"spdy", withProtocol(podexec.ExecSPDY)},
	}
	dir := b.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM base\nCOPY big /big\n"), 0o644); err != nil {
		b.Fatal(err)
	}
	big := make([]byte, 100<<20)
	run := func(target buildrun.Builder) (time.Duration, map[string]float64) {
		_, _ = rand.Read(big) // new content: the whole context crosses again
		if err := os.WriteFile(filepath.Join(dir, "big"), big, 0o644); err != nil {
			b.Fatal(err)
		}
		o := options(dir, nil)
		before := cpuSeconds()
		start := time.Now()
		if _, err := buildrun.Build(context.Background(), target, o); err != nil {
			b.Fatal(err)
		}
		took := time.Since(start)
		return took, cpuDelta(before, cpuSeconds())
	}
	for _, tg := range targets {
		run(tg.b)
	}
	times := make([][]time.Duration, len(targets))
	cpu := make([]map[string]float64, len(targets))
	for round := range max(b.N, 5) {
		for i := range targets {
			k := (i + round) % len(targets)
			took, used := run(targets[k].b)
			times[k] = append(times[k], took)
			if cpu[k] == nil {
				cpu[k] = map[string]float64{}
			}
			for name, s := range used {
				cpu[k][name] += s / float64(max(b.N, 5))
			}
		}
	}
	d := median(times[0])
	for i, tg := range targets {
		m := median(times[i])
		b.ReportMetric(m.Seconds(), tg.name+"-s")
		if i > 0 {
			b.ReportMetric(d.Seconds()/m.Seconds(), tg.name+"/direct-throughput")
		}
		b.Logf("100 MB context via %-9s median %.3fs (%3.0f MB/s), throughput vs direct %.2f (goal ≥ 0.8 for exec); runs %v",
			tg.name, m.Seconds(), 100/m.Seconds(), d.Seconds()/m.Seconds(), rounded(times[i]))
		b.Logf("    mean CPU seconds per build: %s", formatCPU(cpu[i]))
	}
}

// formatCPU lists CPU seconds by process, largest first, with their total.
func formatCPU(cpu map[string]float64) string {
	names := slices.Collect(maps.Keys(cpu))
	slices.SortFunc(names, func(a, b string) int { return cmp.Compare(cpu[b], cpu[a]) })
	var sb strings.Builder
	total := 0.0
	for _, n := range names {
		if cpu[n] >= 0.01 {
			fmt.Fprintf(&sb, "%s %.2f, ", n, cpu[n])
		}
		total += cpu[n]
	}
	fmt.Fprintf(&sb, "total %.2f", total)
	return sb.String()
}

func rounded(ds []time.Duration) []time.Duration {
	out := make([]time.Duration, len(ds))
	for i, d := range ds {
		out[i] = d.Round(time.Millisecond)
	}
	return out
}

// BenchmarkParallelNodes builds two platforms on two nodes at once and one after the other.
func BenchmarkParallelNodes(b *testing.B) {
	lazy.Require(b)
	t := &testing.T{}
	ns, err := env.CreateNamespace(context.Background(), "bench-parallel")
	if err != nil {
		b.Fatal(err)
	}
	defer env.DeleteNamespace(context.Background(), ns)
	bld := applyBuilder(t, builderYAML(ns, "sticky", 1))
	dir := b.TempDir()
	df := "FROM base\nCOPY hello.txt /\nRUN i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; sleep 1; cat /hello.txt > /out\n"
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(df), 0o644); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "hello.txt"), []byte("x"), 0o644); err != nil {
		b.Fatal(err)
	}
	build := func(platforms ...string) {
		o := options(dir, nil)
		o.NoCache = true
		o.Platforms = platforms
		if _, err := buildrun.Build(context.Background(), bld, o); err != nil {
			b.Fatal(err)
		}
	}
	var par, seq []time.Duration
	for range max(b.N, 5) {
		start := time.Now()
		build("linux/amd64", "linux/arm64")
		par = append(par, time.Since(start))
		start = time.Now()
		build("linux/amd64")
		build("linux/arm64")
		seq = append(seq, time.Since(start))
	}
	p, s := median(par), median(seq)
	b.ReportMetric(p.Seconds(), "parallel-s")
	b.ReportMetric(s.Seconds(), "sequential-s")
	b.ReportMetric(p.Seconds()/s.Seconds(), "parallel/sequential")
	b.Logf("two platforms on two nodes: parallel median %.3fs, sequential median %.3fs, ratio %.2f (goal ≤ 0.6)",
		p.Seconds(), s.Seconds(), p.Seconds()/s.Seconds())
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}
