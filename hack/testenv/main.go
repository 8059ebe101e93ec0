// Command testenv starts, describes and stops the real local test environment (docs/testenv.md) for
// interactive use and for test runs that share one environment:
//
//	go run ./hack/testenv up     # start in the background; prints timings, then export lines
//	eval "$(go run ./hack/testenv env)"
//	go test ./...                # BKCTL_TESTENV makes testenv.Main attach instead of starting
//	go run ./hack/testenv down   # stop everything; no process or mount is left behind
package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/bkctl/bkctl/internal/testenv"
)

const usage = "usage: go run ./hack/testenv up|env|down"

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, usage)
		os.Exit(1)
	}
	var err error
	switch os.Args[1] {
	case "up":
		err = up(os.Stdout, os.Stderr)
	case "env":
		err = printEnv(os.Stdout)
	case "down":
		err = down(os.Stderr)
	case "supervise": // the background process that `up` starts
		err = supervise()
	default:
		err = errors.New(usage)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "testenv: %v\n", err)
		os.Exit(1)
	}
}

// envFile is where `up` records the running environment: a link to env.json in its run dir.
func envFile() (string, error) {
	if p := os.Getenv(testenv.EnvVar); p != "" {
		return p, nil
	}
	local, err := testenv.LocalDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(local, "env.json"), nil
}

func up(stdout, stderr io.Writer) error {
	path, err := envFile()
	if err != nil {
		return err
	}
	if e, err := testenv.Read(path); err == nil && e.Owner.Alive() {
		fmt.Fprintf(stderr, "testenv: already up (supervisor pid %d)\n", e.Owner.PID)
		return exports(stdout, path, e)
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	r, w, err := os.Pipe()
	if err != nil {
		return err
	}
	logPath := filepath.Join(filepath.Dir(path), "supervisor.log")
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	logf, err := os.Create(logPath)
	if err != nil {
		return err
	}
	cmd := exec.Command(self, "supervise")
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.ExtraFiles = []*os.File{w} // fd 3: progress until ready
	cmd.Env = append(os.Environ(), testenv.EnvVar+"="+path)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true} // outlives this command and its terminal
	if err := cmd.Start(); err != nil {
		return err
	}
	w.Close()
	logf.Close()
	ready := false
	s := bufio.NewScanner(r)
	for s.Scan() {
		line := s.Text()
		if line == "READY" {
			ready = true
			break
		}
		fmt.Fprintln(stderr, line)
	}
	r.Close()
	if !ready {
		_ = cmd.Wait()
		return fmt.Errorf("supervisor exited before the environment was ready (log: %s)", logPath)
	}
	_ = cmd.Process.Release()
	e, err := testenv.Read(path)
	if err != nil {
		return err
	}
	return exports(stdout, path, e)
}

func exports(w io.Writer, path string, e *testenv.Env) error {
	abs, err := filepath.Abs(path)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "export KUBECONFIG=%s\n", e.Kubeconfig)
	fmt.Fprintf(w, "export %s=%s\n", testenv.EnvVar, abs)
	fmt.Fprintf(w, "export BKCTL_TESTENV_REGISTRY=%s\n", e.Registry)
	// buildctl build --oci-layout base=$BKCTL_TESTENV_BASE_LAYOUT \
	//   --opt context:base=oci-layout://base@$BKCTL_TESTENV_BASE_DIGEST …
	fmt.Fprintf(w, "export BKCTL_TESTENV_BASE_LAYOUT=%s\n", e.BaseLayout)
	fmt.Fprintf(w, "export BKCTL_TESTENV_BASE_DIGEST=%s\n", e.BaseDigest)
	return nil
}

// progress forwards startup progress to the `up` command until the environment is ready, and
// from then on only to the supervisor's log.
type progress struct {
	mu   sync.Mutex
	pipe *os.File
}

func (p *progress) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	os.Stderr.Write(b)
	if p.pipe != nil {
		_, _ = p.pipe.Write(b)
	}
	return len(b), nil
}

func (p *progress) ready() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.pipe != nil {
		_, _ = p.pipe.WriteString("READY\n")
		p.pipe.Close()
		p.pipe = nil
	}
}

func supervise() error {
	path := os.Getenv(testenv.EnvVar)
	prog := &progress{pipe: os.NewFile(3, "progress")}
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer cancel()
	opts := testenv.DefaultOptions()
	opts.Log = prog
	opts.RealNode = os.Getenv("BKCTL_TESTENV_NODE") == "real"
	startCtx, cancelStart := context.WithTimeout(ctx, 5*time.Minute)
	e, err := testenv.Start(startCtx, opts)
	cancelStart()
	if err != nil {
		fmt.Fprintf(prog, "testenv: %v\n", err)
		return err
	}
	_ = os.Remove(path)
	if err := os.Symlink(filepath.Join(e.RunDir, "env.json"), path); err != nil {
		_ = e.Stop()
		return err
	}
	fmt.Fprintf(prog, "testenv: supervisor pid %d keeps it running; stop it with `go run ./hack/testenv down`\n", os.Getpid())
	prog.ready()
	<-ctx.Done()
	fmt.Fprintln(os.Stderr, "testenv: stopping")
	err = e.Stop()
	if target, lerr := os.Readlink(path); lerr == nil && strings.HasPrefix(target, e.RunDir) {
		_ = os.Remove(path)
	}
	return err
}

func printEnv(w io.Writer) error {
	path, err := envFile()
	if err != nil {
		return err
	}
	e, err := testenv.Read(path)
	if err != nil || !e.Owner.Alive() {
		return errors.New("no environment is up (hint: go run ./hack/testenv up)")
	}
	return exports(w, path, e)
}

func down(stderr io.Writer) error {
	path, err := envFile()
	if err != nil {
		return err
	}
	if e, err := testenv.Read(path); err == nil {
		if e.Owner.Alive() {
			_ = syscall.Kill(e.Owner.PID, syscall.SIGTERM)
			deadline := time.Now().Add(60 * time.Second)
			for e.Owner.Alive() && time.Now().Before(deadline) {
				time.Sleep(50 * time.Millisecond)
			}
		}
		// whatever the supervisor did not manage (or if it had died) is reaped here
		if err := testenv.Reap(e.RunDir); err != nil {
			return err
		}
		fmt.Fprintf(stderr, "testenv: stopped %s\n", e.RunDir)
	}
	_ = os.Remove(path)
	reaped, err := testenv.ReapStale(testenv.RunParent())
	for _, d := range reaped {
		fmt.Fprintf(stderr, "testenv: reaped stale %s\n", d)
	}
	return err
}
