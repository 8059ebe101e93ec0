package faults

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/bkctl/bkctl/internal/testenv"
)

var env *testenv.Env

// bin is the bkctl binary the tests run as a user would, built while the environment starts.
var bin *testenv.Binary

func TestMain(m *testing.M) {
	var err error
	if bin, err = testenv.BuildBinary("bkctl-faults-"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	testenv.MainOwn(m, &env, bin.Remove)
}

// bkctlPath returns the built binary, waiting for the build.
func bkctlPath(t *testing.T) string {
	t.Helper()
	return bin.Path(t)
}

// proc is a running bkctl whose stderr can be watched line by line.
type proc struct {
	cmd    *exec.Cmd
	stdout bytes.Buffer
	stderr watchedBuffer
	done   chan struct{}
}

// start runs bkctl with args and the environment's kubeconfig; the test ends it if it still runs.
func start(t *testing.T, args ...string) *proc {
	t.Helper()
	p := &proc{done: make(chan struct{})}
	p.stderr.changed = make(chan struct{}, 1)
	p.cmd = exec.Command(bkctlPath(t), append(args, "--kubeconfig="+env.Kubeconfig)...)
	p.cmd.Stdout, p.cmd.Stderr = &p.stdout, &p.stderr
	p.cmd.Env = append(os.Environ(), "NO_COLOR=1")
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		_ = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.done
	})
	return p
}

// wait waits for the process to exit and returns its exit code; it fails the test if the process
// still runs after the hang guard.
func (p *proc) wait(t *testing.T, guard time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(guard):
		_ = p.cmd.Process.Kill()
		<-p.done
		t.Fatalf("bkctl %s still ran after %s; killed\nstdout:\n%s\nstderr:\n%s", strings.Join(p.cmd.Args[1:], " "), guard, p.stdout.String(), p.stderr.String())
	}
	return p.cmd.ProcessState.ExitCode()
}

// waitStderr waits until stderr has a line containing s, or fails the test.
func (p *proc) waitStderr(t *testing.T, s string, guard time.Duration) {
	t.Helper()
	deadline := time.After(guard)
	for !strings.Contains(p.stderr.String(), s) {
		select {
		case <-p.stderr.changed:
		case <-p.done:
			if strings.Contains(p.stderr.String(), s) {
				return
			}
			t.Fatalf("bkctl exited (%v) before printing %q\nstdout:\n%s\nstderr:\n%s", p.cmd.ProcessState, s, p.stdout.String(), p.stderr.String())
		case <-deadline:
			t.Fatalf("no %q on stderr after %s\nstderr:\n%s", s, guard, p.stderr.String())
		}
	}
}

func (p *proc) signal(t *testing.T, sig syscall.Signal) {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
}

// watchedBuffer collects a stream and signals every write.
type watchedBuffer struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	changed chan struct{}
}

func (b *watchedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	select {
	case b.changed <- struct{}{}:
	default:
	}
	return b.buf.Write(p)
}

func (b *watchedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// bkctl runs bkctl to its end and returns its exit code, stdout and stderr.
func bkctl(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	p := start(t, args...)
	code := p.wait(t, 3*time.Minute)
	return code, p.stdout.String(), p.stderr.String()
}

// node is one builder node of a test file, on the amd64 kwok node.
func node(name string) string {
	return "      - name: " + name + "\n        nodeSelector: {kubernetes.io/arch: amd64}\n        timeout: 90s\n"
}

// builder is one builder of a test file; ns "" puts it in the file's namespace.
func builder(name, ns string, nodes ...string) string {
	s := "  - name: " + name + "\n"
	if ns != "" {
		s += "    namespace: " + ns + "\n"
	}
	return s + "    nodes:\n" + strings.Join(nodes, "")
}

// writeFile writes a builders file named "faults" whose inventory lives in ns.
func writeFile(t *testing.T, ns string, builders ...string) string {
	t.Helper()
	body := "apiVersion: bkctl/v1alpha1\nkind: Builders\nmetadata:\n  name: faults\n  namespace: " + ns +
		"\nbuilders:\n" + strings.Join(builders, "")
	path := filepath.Join(t.TempDir(), "builders.yaml")
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func ctx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	t.Cleanup(cancel)
	return ctx
}
