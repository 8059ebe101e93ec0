package apply_test

import (
	"context"
	"fmt"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/client-go/rest"

	"github.com/bkctl/bkctl/internal/apply"
	"github.com/bkctl/bkctl/internal/diff"
)

// fleet is a builders file body of n builders with one node each and no replicas: the
// Deployments roll out (the controller-manager makes them Available) but no pod starts.
func fleet(n int) string {
	var b strings.Builder
	b.WriteString("builders:\n")
	for i := range n {
		fmt.Fprintf(&b, "  - name: b%04d\n    nodes:\n      - name: b%04d-amd64\n        replicas: 0\n        nodeSelector: {kubernetes.io/arch: amd64}\n", i, i)
	}
	return b.String()
}

// heapPeak samples the live heap until stop is called, and returns its peak above the heap at
// the start.
func heapPeak() (stop func() uint64) {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapAlloc
	var peak atomic.Uint64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			if ms.HeapAlloc > peak.Load() {
				peak.Store(ms.HeapAlloc)
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	})
	return func() uint64 {
		close(done)
		wg.Wait()
		if p := peak.Load(); p > base {
			return p - base
		}
		return 0
	}
}

// waitCeiling bounds the heap growth of applying and waiting for 500 Deployments. What the wait
// itself keeps per workload is its name, status and message (well under 1 KiB); the largest
// transient is one decoded list of the 500 (protobuf into typed structs, about 5 KiB each:
// ~2.5 MiB), and the write path holds the rendered objects and their server-side apply answers
// (~20 KiB each as unstructured: ~10 MiB). 64 MiB leaves room for the garbage the collector has
// not yet reclaimed, and is far below the per-object pollers this replaced, whose caches grew
// with the square of the count (22 GB at 1,000 objects).
const waitCeiling = 64 << 20

// TestWaitAtFleetSize applies 500 Deployments and waits for all of them with one watch: the
// heap stays under waitCeiling, every Deployment is reported ready, and the wait opens a
// handful of lists and watches rather than polling per object.
func TestWaitAtFleetSize(t *testing.T) {
	f := newFixture(t)
	var reads, watches atomic.Int64
	cfg := rest.CopyConfig(env.Config)
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper {
		return roundTripper(func(r *http.Request) (*http.Response, error) {
			if r.Method == http.MethodGet {
				reads.Add(1)
				if r.URL.Query().Get("watch") == "true" {
					watches.Add(1)
				}
			}
			return rt.RoundTrip(r)
		})
	})
	m, err := apply.NewManager(cfg, apply.DefaultManagerOptions())
	if err != nil {
		t.Fatal(err)
	}
	l := f.file(fleet(500))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	p, err := m.Plan(ctx, l.set, l.objs)
	if err != nil {
		t.Fatal(err)
	}
	opts := apply.DefaultOptions()
	opts.Timeout = func(diff.Ref) time.Duration { return 8 * time.Minute }
	var waiting atomic.Int64
	readsBefore := atomic.Int64{}
	opts.Progress = func(e apply.Event) {
		if e.Type == apply.EventWaiting && waiting.Add(1) == 1 {
			readsBefore.Store(reads.Load()) // the writes are done: the wait starts
		}
	}
	stop := heapPeak()
	start := time.Now()
	res, err := m.Apply(ctx, l.set, p, opts)
	peak := stop()
	if err != nil {
		t.Fatalf("apply: %v", err)
	}
	t.Logf("apply and wait of 500 Deployments: %s, heap peak +%.1f MiB, %d reads during the wait (%d watches)",
		time.Since(start).Round(time.Millisecond), float64(peak)/(1<<20), reads.Load()-readsBefore.Load(), watches.Load())
	if len(res.Ready) != 500 {
		t.Errorf("ready = %d, want 500", len(res.Ready))
	}
	if peak > waitCeiling {
		t.Errorf("heap grew by %.1f MiB, over the ceiling of %d MiB", float64(peak)/(1<<20), waitCeiling>>20)
	}
	// one namespace: a list and a watch of Deployments, and of pods; a watch the server ends
	// is resumed, so allow a few more
	if n := reads.Load() - readsBefore.Load(); n > 20 {
		t.Errorf("the wait made %d reads, want a few lists and watches, not one per object", n)
	}
}
