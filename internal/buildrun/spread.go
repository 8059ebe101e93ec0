package buildrun

import (
	"slices"

	"github.com/serialx/hashring"
)

// Spread assigns each key (a bake target) to one of daemons (sorted names) by consistent hashing
// with bounded loads: keys in sorted order each take the first daemon in their hash ring order
// that has fewer than ceil(len(keys)/len(daemons)) keys. The same keys and daemons give the same
// assignment on every run, so each target comes back to the daemon whose cache it warmed; unlike
// plain consistent hashing, no daemon gets more than its share.
func Spread(keys, daemons []string) map[string]string {
	out := map[string]string{}
	if len(daemons) == 0 {
		return out
	}
	ds := slices.Sorted(slices.Values(daemons))
	ring := hashring.New(ds)
	limit := (len(keys) + len(ds) - 1) / len(ds)
	load := map[string]int{}
	for _, k := range slices.Sorted(slices.Values(keys)) {
		order, _ := ring.GetNodes(k, len(ds))
		for _, d := range order {
			if load[d] < limit {
				out[k] = d
				load[d]++
				break
			}
		}
	}
	return out
}
