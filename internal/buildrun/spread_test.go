package buildrun_test

import (
	"fmt"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/bkctl/bkctl/internal/buildrun"
)

// Spread gives every daemon its share of the targets, the same assignment whatever the order
// of targets and daemons, and keeps most targets where they were when a daemon is added.
func TestSpread(t *testing.T) {
	var targets []string
	for i := range 8 {
		targets = append(targets, fmt.Sprintf("t%d", i))
	}
	for _, daemons := range [][]string{{"a"}, {"a", "b"}, {"a", "b", "c"}, {"p-0", "p-1", "p-2", "p-3"}} {
		got := buildrun.Spread(targets, daemons)
		load := map[string]int{}
		for _, tg := range targets {
			d, ok := got[tg]
			if !ok || !slices.Contains(daemons, d) {
				t.Fatalf("%v: target %s on %q", daemons, tg, d)
			}
			load[d]++
		}
		limit := (len(targets) + len(daemons) - 1) / len(daemons)
		for d, n := range load {
			if n > limit {
				t.Errorf("%v: daemon %s has %d targets, more than its share %d", daemons, d, n, limit)
			}
		}
		if len(load) != min(len(daemons), len(targets)) {
			t.Errorf("%v: targets on %d daemons, want every daemon used: %v", daemons, len(load), got)
		}
		rev := slices.Clone(targets)
		slices.Reverse(rev)
		rd := slices.Clone(daemons)
		slices.Reverse(rd)
		if d := cmp.Diff(got, buildrun.Spread(rev, rd)); d != "" {
			t.Errorf("%v: the order changed the assignment (-first +reordered)\n%s", daemons, d)
		}
	}
}
