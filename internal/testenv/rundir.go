package testenv

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

const stateFile = "state.json"

// runDir is the private directory of one environment. Its state file names the owner and every
// process group started for it, so that a later run can clean up after a crashed one.
type runDir struct {
	path string

	mu    sync.Mutex
	state runState
}

type runState struct {
	Owner     ProcessID   `json:"owner"`
	Processes []ProcessID `json:"processes"`
}

// RunParent returns the directory that holds the run directories of all environments:
// $BKCTL_TESTENV_RUNS, else $TMPDIR/bkctl-testenv. Paths under it must stay short: buildkitd's
// unix sockets live there.
func RunParent() string {
	if d := os.Getenv("BKCTL_TESTENV_RUNS"); d != "" {
		return d
	}
	return filepath.Join(os.TempDir(), "bkctl-testenv")
}

func newRunDir(parent string) (*runDir, error) {
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return nil, err
	}
	path, err := os.MkdirTemp(parent, "r")
	if err != nil {
		return nil, err
	}
	for _, d := range []string{"logs", "pki", "d"} {
		if err := os.Mkdir(filepath.Join(path, d), 0o755); err != nil {
			return nil, err
		}
	}
	r := &runDir{path: path, state: runState{Owner: identify("owner", os.Getpid())}}
	return r, r.save()
}

func (r *runDir) addProcess(p ProcessID) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.state.Processes = append(r.state.Processes, p)
	return r.save()
}

func (r *runDir) save() error {
	b, err := json.Marshal(r.state)
	if err != nil {
		return err
	}
	tmp := filepath.Join(r.path, stateFile+".tmp")
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(r.path, stateFile))
}

// ReapStale removes the run directories under parent whose owner process is gone: it ends their
// processes, unmounts what buildkitd left mounted and deletes the directory. It returns the
// directories it removed.
func ReapStale(parent string) ([]string, error) {
	entries, err := os.ReadDir(parent)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var reaped []string
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		dir := filepath.Join(parent, e.Name())
		b, err := os.ReadFile(filepath.Join(dir, stateFile))
		if err != nil {
			info, serr := e.Info()
			// a run dir without a state file is being created, or was abandoned before it had one
			if serr == nil && time.Since(info.ModTime()) > time.Minute {
				if err := Reap(dir); err == nil {
					reaped = append(reaped, dir)
				}
			}
			continue
		}
		var st runState
		if json.Unmarshal(b, &st) == nil && st.Owner.Alive() {
			continue
		}
		if err := Reap(dir); err != nil {
			return reaped, err
		}
		reaped = append(reaped, dir)
	}
	return reaped, nil
}

// Reap ends every process recorded in the run directory dir or running inside it, unmounts
// everything mounted below it and removes it. It is what Stop does when nothing is left to stop
// gracefully, and what cleans up after a crashed run.
func Reap(dir string) error {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	if b, err := os.ReadFile(filepath.Join(dir, stateFile)); err == nil {
		var st runState
		if json.Unmarshal(b, &st) == nil {
			var wg sync.WaitGroup
			for _, p := range st.Processes {
				wg.Go(func() { killGroup(p, 5*time.Second) })
			}
			wg.Wait()
		}
	}
	killInside(dir)
	if err := unmountBelow(dir); err != nil {
		return err
	}
	if err := undoHost(dir); err != nil {
		return fmt.Errorf("undo the real node's changes to the machine: %w", err)
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("remove run dir: %w", err)
	}
	return nil
}

// killInside kills processes whose root or working directory is below dir: build containers
// that runc started for a buildkitd that was killed.
func killInside(dir string) {
	entries, _ := os.ReadDir("/proc")
	prefix := dir + string(filepath.Separator)
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		for _, link := range []string{"root", "cwd"} {
			target, err := os.Readlink(fmt.Sprintf("/proc/%d/%s", pid, link))
			if err == nil && strings.HasPrefix(target, prefix) {
				_ = syscall.Kill(pid, syscall.SIGKILL)
				break
			}
		}
	}
}

// mountsBelow lists mount points at or below dir, deepest first.
func mountsBelow(dir string) ([]string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var mounts []string
	s := bufio.NewScanner(f)
	s.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for s.Scan() {
		fields := strings.Fields(s.Text())
		if len(fields) < 5 {
			continue
		}
		mp := unescapeMount(fields[4])
		if mp == dir || strings.HasPrefix(mp, dir+"/") {
			mounts = append(mounts, mp)
		}
	}
	sort.Slice(mounts, func(i, j int) bool { return len(mounts[i]) > len(mounts[j]) })
	return mounts, s.Err()
}

// unescapeMount decodes the octal escapes (\040 for a space) of /proc/self/mountinfo.
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func unmountBelow(dir string) error {
	mounts, err := mountsBelow(dir)
	if err != nil {
		return err
	}
	for _, m := range mounts {
		if err := syscall.Unmount(m, syscall.MNT_DETACH); err != nil && err != syscall.EINVAL && err != syscall.ENOENT {
			return fmt.Errorf("unmount %s: %w", m, err)
		}
	}
	return nil
}
