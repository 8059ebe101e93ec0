package testenv

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// ProcessID names a process across PID reuse: the kernel's start time tells a recycled PID apart.
type ProcessID struct {
	Name  string `json:"name"`
	PID   int    `json:"pid"`
	Start uint64 `json:"start"`
}

// procStart returns the start time of a process in clock ticks since boot (/proc/PID/stat field 22).
func procStart(pid int) (uint64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')') // the command name may contain spaces and parentheses
	if i < 0 {
		return 0, fmt.Errorf("parse /proc/%d/stat: no command name", pid)
	}
	fields := strings.Fields(s[i+1:])
	const startField = 22 - 3 // fields after the name start at field 3
	if len(fields) <= startField {
		return 0, fmt.Errorf("parse /proc/%d/stat: %d fields", pid, len(fields))
	}
	return strconv.ParseUint(fields[startField], 10, 64)
}

func identify(name string, pid int) ProcessID {
	start, _ := procStart(pid)
	return ProcessID{Name: name, PID: pid, Start: start}
}

// Alive reports whether the process still runs (and is not a zombie) and is the same process.
func (p ProcessID) Alive() bool {
	start, err := procStart(p.PID)
	if err != nil || start != p.Start {
		return false
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.PID))
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || !strings.HasPrefix(strings.TrimSpace(s[i+1:]), "Z")
}

// process is a child started in its own process group, so that its own children (kwok's exec
// sessions, buildkitd's runc) are signalled with it.
type process struct {
	id   ProcessID
	cmd  *exec.Cmd
	log  string
	done chan struct{}
}

// startProcess starts cmd with output to logDir/name.log. The child gets SIGTERM if this process
// dies, and the state file records it for a later run to reap if even that fails.
func (r *runDir) startProcess(name string, cmd *exec.Cmd) (*process, error) {
	logPath := filepath.Join(r.path, "logs", name+".log")
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	defer logf.Close()
	cmd.Stdout, cmd.Stderr = logf, logf
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
	cmd.SysProcAttr.Pdeathsig = syscall.SIGTERM
	if err := startOnSpawner(cmd); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &process{id: identify(name, cmd.Process.Pid), cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(p.done)
	}()
	if err := r.addProcess(p.id); err != nil {
		p.stop(time.Second)
		return nil, err
	}
	return p, nil
}

// exited returns a non-nil error, with the tail of the log, once the process has exited.
func (p *process) exited() error {
	select {
	case <-p.done:
		return fmt.Errorf("%s exited (%v):\n%s", p.id.Name, p.cmd.ProcessState, tail(p.log, 20))
	default:
		return nil
	}
}

var (
	spawnOnce sync.Once
	spawns    = make(chan spawn)
)

type spawn struct {
	cmd *exec.Cmd
	err chan error
}

// startOnSpawner starts cmd from one OS thread that lives as long as the process: the kernel
// sends Pdeathsig when the thread that forked the child exits, not the process, and the Go
// runtime may end threads.
func startOnSpawner(cmd *exec.Cmd) error {
	spawnOnce.Do(func() {
		go func() {
			runtime.LockOSThread() // never unlocked: the thread dies with the process
			for s := range spawns {
				s.err <- s.cmd.Start()
			}
		}()
	})
	s := spawn{cmd: cmd, err: make(chan error, 1)}
	spawns <- s
	return <-s.err
}

// stop sends SIGTERM to the process group, SIGKILL after grace, and then SIGKILL to whatever is
// left in the group (kwok's exec sessions outlive their clients).
func (p *process) stop(grace time.Duration) {
	pgid := p.id.PID
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-p.done
	}
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
}

// killGroup ends a process group recorded by an earlier run, if its leader is still that process.
func killGroup(p ProcessID, grace time.Duration) {
	if p.Alive() {
		_ = syscall.Kill(-p.PID, syscall.SIGTERM)
		deadline := time.Now().Add(grace)
		for p.Alive() && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		_ = syscall.Kill(-p.PID, syscall.SIGKILL)
		return
	}
	// The leader is gone, but its children may still carry its group id; the group id is
	// only reused once no process has it, so signalling it cannot hit a stranger.
	if err := syscall.Kill(-p.PID, 0); err == nil || !errors.Is(err, syscall.ESRCH) {
		_ = syscall.Kill(-p.PID, syscall.SIGKILL)
	}
}

func tail(path string, lines int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	l := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(l) > lines {
		l = l[len(l)-lines:]
	}
	return strings.Join(l, "\n")
}
