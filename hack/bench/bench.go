// Package bench holds what the benchmark programs under hack/ share: the test environment they
// run against, child processes measured by wall time and peak RSS, and medians.
package bench

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"sort"
	"syscall"
	"time"

	"github.com/bkctl/bkctl/internal/testenv"
)

// Env attaches to the environment BKCTL_TESTENV names, or starts one; stop ends what it started.
func Env(ctx context.Context) (env *testenv.Env, stop func(), err error) {
	if p := os.Getenv(testenv.EnvVar); p != "" {
		env, err = testenv.Load(p)
		if err != nil {
			return nil, nil, err
		}
		return env, func() {}, nil
	}
	startCtx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	env, err = testenv.Start(startCtx, testenv.DefaultOptions())
	if err != nil {
		return nil, nil, err
	}
	return env, func() { _ = env.Stop() }, nil
}

// Run is one measured child process.
type Run struct {
	Wall time.Duration
	// MaxRSS is the child's peak resident set, in bytes (rusage ru_maxrss).
	MaxRSS int64
	Out    []byte
	Err    error
}

// Command runs args with env added to the environment and measures it.
func Command(env []string, args ...string) Run {
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = append(os.Environ(), env...)
	start := time.Now()
	out, err := cmd.CombinedOutput()
	r := Run{Wall: time.Since(start), Out: out, Err: err}
	if cmd.ProcessState != nil {
		if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
			r.MaxRSS = ru.Maxrss * 1024 // kilobytes on Linux
		}
	}
	return r
}

// ExitOneOK accepts exit code 1 (kubectl diff: differences found).
func ExitOneOK(err error) bool {
	var ee *exec.ExitError
	return errors.As(err, &ee) && ee.ExitCode() == 1
}

// Median returns the median of ds.
func Median(ds []time.Duration) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}
