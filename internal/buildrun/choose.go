package buildrun

import (
	"fmt"
	"math/rand/v2"
	"slices"

	"github.com/serialx/hashring"

	"github.com/bkctl/bkctl/internal/spec"
)

// Choose picks the daemon for a build among daemons (sorted names), skipping those in avoid:
// with loadbalance sticky, by consistent hashing of key over the names, the same ring docker
// buildx uses, so that bkctl and buildx send the same context to the same pod and removing a
// pod moves only the keys it had; with random, uniformly.
func Choose(daemons []string, loadbalance, key string, avoid map[string]bool) (string, error) {
	var names []string
	for _, d := range daemons {
		if !avoid[d] {
			names = append(names, d)
		}
	}
	if len(names) == 0 {
		return "", ErrNoDaemon
	}
	switch loadbalance {
	case spec.LoadbalanceRandom:
		return names[rand.IntN(len(names))], nil
	case spec.LoadbalanceSticky, "":
		slices.Sort(names)
		d, ok := hashring.New(names).GetNode(key)
		if !ok {
			return "", ErrNoDaemon
		}
		return d, nil
	default:
		return "", fmt.Errorf("choose a pod: unknown loadbalance %q", loadbalance)
	}
}
