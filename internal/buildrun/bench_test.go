package buildrun_test

import (
	"context"
	"crypto/rand"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/bkctl/bkctl/internal/buildrun"
)

// BenchmarkTransport builds a 100 MB context through pod exec and through a direct unix-socket
// connection to the same daemon; it reports the medians and exec's share of direct throughput.
func BenchmarkTransport(b *testing.B) {
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
	direct := bld
	direct.Nodes = slices.Clone(bld.Nodes)
	direct.Nodes[0].Transport = buildrun.Direct{pods[0]: addr}
	dir := b.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM base\nCOPY big /big\n"), 0o644); err != nil {
		b.Fatal(err)
	}
	big := make([]byte, 100<<20)
	run := func(target buildrun.Builder) time.Duration {
		_, _ = rand.Read(big) // new content: the whole context crosses again
		if err := os.WriteFile(filepath.Join(dir, "big"), big, 0o644); err != nil {
			b.Fatal(err)
		}
		o := options(dir, nil)
		start := time.Now()
		if _, err := buildrun.Build(context.Background(), target, o); err != nil {
			b.Fatal(err)
		}
		return time.Since(start)
	}
	var viaExec, viaSocket []time.Duration
	for range max(b.N, 5) {
		viaExec = append(viaExec, run(bld))
		viaSocket = append(viaSocket, run(direct))
	}
	e, d := median(viaExec), median(viaSocket)
	b.ReportMetric(e.Seconds(), "exec-s")
	b.ReportMetric(d.Seconds(), "direct-s")
	b.ReportMetric(d.Seconds()/e.Seconds(), "exec/direct-throughput")
	b.Logf("100 MB context: exec median %.3fs (%.0f MB/s), direct median %.3fs (%.0f MB/s), exec/direct throughput %.2f (goal ≥ 0.8)",
		e.Seconds(), 100/e.Seconds(), d.Seconds(), 100/d.Seconds(), d.Seconds()/e.Seconds())
}

// BenchmarkParallelNodes builds two platforms on two nodes at once and one after the other.
func BenchmarkParallelNodes(b *testing.B) {
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
