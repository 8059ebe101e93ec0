package testenv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// KillDaemon kills the buildkitd that serves pod with SIGKILL, together with everything it
// started (its runc containers), as a crash or an OOM kill of the container would. The pod stays
// Running and Ready, as it does until a kubelet's probe notices.
//
// The environment restarts a daemon whose process exits while its pod lives (see watch); after
// KillDaemon it holds that restart until resume is called, so that a test decides whether the
// daemon is back for a retry or stays down until the build gave up. resume is safe to call more
// than once; the test should also call it in its cleanup. It works on an environment this
// process started as well as on one loaded from a supervisor, which holds its restart the same
// way (through a file beside the daemon's socket).
func (e *Env) KillDaemon(ctx context.Context, namespace, pod string) (resume func(), err error) {
	addr, err := e.PodDaemon(ctx, namespace, pod)
	if err != nil {
		return nil, err
	}
	dir := strings.TrimSuffix(strings.TrimPrefix(addr, "unix://"), ".sock")
	hold := holdPath(dir)
	if err := os.WriteFile(hold, nil, 0o644); err != nil {
		return nil, fmt.Errorf("kill the buildkitd of Pod/%s/%s: %w", namespace, pod, err)
	}
	resume = func() { _ = os.Remove(hold) }
	pids, err := daemonPIDs(filepath.Join(dir, "buildkitd.toml"))
	if err == nil && len(pids) == 0 {
		err = errors.New("it is not running (hint: a daemon starts with the first exec into its pod)")
	}
	if err != nil {
		resume()
		return nil, fmt.Errorf("kill the buildkitd of Pod/%s/%s: %w", namespace, pod, err)
	}
	for _, pid := range pids {
		// each daemon leads its own process group (startProcess): its runc children go with it
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	for _, pid := range pids {
		for ctx.Err() == nil && processExists(pid) {
			time.Sleep(10 * time.Millisecond)
		}
	}
	if ctx.Err() != nil {
		resume()
		return nil, fmt.Errorf("kill the buildkitd of Pod/%s/%s: %w", namespace, pod, ctx.Err())
	}
	return resume, nil
}

// holdPath is the file whose existence holds back the restart of the daemon in dir.
func holdPath(dir string) string { return dir + ".hold" }

// waitUnheld blocks while the daemon's restart is held by KillDaemon, or until it is stopped.
func (d *daemon) waitUnheld() {
	for {
		if _, err := os.Stat(holdPath(d.dir)); err != nil {
			return
		}
		d.mu.Lock()
		stopped := d.stopped
		d.mu.Unlock()
		if stopped {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// daemonPIDs finds the buildkitd processes started with the config file cfg.
func daemonPIDs(cfg string) ([]int, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	want := []byte("--config=" + cfg)
	var pids []int
	for _, ent := range entries {
		pid, err := strconv.Atoi(ent.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", ent.Name(), "cmdline"))
		if err != nil {
			continue
		}
		args := bytes.Split(bytes.TrimRight(b, "\x00"), []byte{0})
		if len(args) > 1 && filepath.Base(string(args[0])) == "buildkitd" && bytes.Equal(args[1], want) {
			pids = append(pids, pid)
		}
	}
	return pids, nil
}

// processExists reports whether pid is a process that has not yet been reaped; a zombie counts
// as gone.
func processExists(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(b, ')')
	return i >= 0 && !bytes.HasPrefix(bytes.TrimSpace(b[i+1:]), []byte("Z"))
}
