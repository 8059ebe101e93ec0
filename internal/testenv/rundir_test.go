package testenv

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestReapStale plays a crashed run: its owner is dead, a process of its group still runs and a
// file system is still mounted in its run dir. The next run must clean all of it, and must not
// touch a run whose owner lives.
func TestReapStale(t *testing.T) {
	parent := t.TempDir()

	dead := exec.Command("/bin/true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	crashed := filepath.Join(parent, "rcrashed")
	mnt := filepath.Join(crashed, "d", "1", "root", "mnt")
	if err := os.MkdirAll(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", mnt, "tmpfs", 0, "size=1m"); err != nil {
		t.Fatalf("mount tmpfs: %v", err)
	}
	t.Cleanup(func() { _ = syscall.Unmount(mnt, syscall.MNT_DETACH) })
	orphan := exec.Command("/bin/sleep", "60")
	orphan.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := orphan.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = orphan.Wait(); close(exited) }()
	t.Cleanup(func() { _ = orphan.Process.Kill() })
	writeState(t, crashed, runState{
		Owner:     ProcessID{Name: "owner", PID: dead.Process.Pid, Start: 1},
		Processes: []ProcessID{identify("sleep", orphan.Process.Pid)},
	})

	live := filepath.Join(parent, "rlive")
	if err := os.Mkdir(live, 0o755); err != nil {
		t.Fatal(err)
	}
	writeState(t, live, runState{Owner: identify("owner", os.Getpid())})

	reaped, err := ReapStale(parent)
	if err != nil {
		t.Fatal(err)
	}
	if len(reaped) != 1 || reaped[0] != crashed {
		t.Errorf("reaped %v, want [%s]", reaped, crashed)
	}
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		t.Errorf("process %d of the crashed run still runs", orphan.Process.Pid)
	}
	if m, err := mountsBelow(crashed); err != nil || len(m) != 0 {
		t.Errorf("mounts left below the crashed run: %v (%v)", m, err)
	}
	if _, err := os.Stat(crashed); !os.IsNotExist(err) {
		t.Errorf("crashed run dir still exists: %v", err)
	}
	if _, err := os.Stat(filepath.Join(live, stateFile)); err != nil {
		t.Errorf("the live run was touched: %v", err)
	}
}

func writeState(t *testing.T, dir string, st runState) {
	t.Helper()
	b, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, stateFile), b, 0o644); err != nil {
		t.Fatal(err)
	}
}
