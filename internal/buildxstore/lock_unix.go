//go:build darwin || dragonfly || freebsd || illumos || linux || netbsd || openbsd

package buildxstore

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// lockPoll is how often Lock retries while another process holds the lock.
const lockPoll = 50 * time.Millisecond

// Lock takes buildx's store lock: an exclusive flock(2) on <dir>/.lock, the file buildx's
// gofrs/flock opens (created 0600, read-only). It waits until the lock is free or ctx ends;
// buildx ls and create hold it while they talk to the cluster. Call release when done.
func (s *Store) Lock(ctx context.Context) (release func(), err error) {
	f, err := os.OpenFile(filepath.Join(s.dir, lockFile), os.O_CREATE|os.O_RDONLY, filePerm)
	if err != nil {
		return nil, fmt.Errorf("lock buildx store: %w", err)
	}
	t := time.NewTicker(lockPoll)
	defer t.Stop()
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() { _ = f.Close() }, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			_ = f.Close()
			return nil, fmt.Errorf("lock buildx store %s: %w", f.Name(), err)
		}
		select {
		case <-ctx.Done():
			_ = f.Close()
			return nil, fmt.Errorf("lock buildx store %s (held by another buildx or bkctl): %w", f.Name(), context.Cause(ctx))
		case <-t.C:
		}
	}
}
