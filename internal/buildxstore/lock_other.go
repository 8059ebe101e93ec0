//go:build !(darwin || dragonfly || freebsd || illumos || linux || netbsd || openbsd)

package buildxstore

import (
	"context"
	"fmt"
	"runtime"
)

// Lock would take buildx's store lock; bkctl implements it only where buildx uses flock(2).
func (s *Store) Lock(ctx context.Context) (release func(), err error) {
	return nil, fmt.Errorf("lock buildx store: not supported on %s", runtime.GOOS)
}
