package testenv

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	"k8s.io/klog/v2"
)

// EnvVar names the variable that points tests at a running environment's env.json (written by
// `go run ./hack/testenv up`) instead of starting one per test binary.
const EnvVar = "BKCTL_TESTENV"

// Main is the whole TestMain of an integration test package: it starts an environment (or
// attaches to the one EnvVar names), stores it in *env, runs the tests, stops the environment
// and exits. It never skips: when something is missing it fails and says what to run. It sends
// the logs of klog and logrus to a buffer that is printed only when the run fails.
//
//	var env *testenv.Env
//
//	func TestMain(m *testing.M) { testenv.Main(m, &env) }
func Main(m *testing.M, env **Env) {
	os.Exit(runMain(m, env, mainMode{}, nil))
}

// MainOwn is Main for a test package that breaks its environment on purpose (StopAPIServer): it
// always starts an environment of its own, also when EnvVar names a shared one, which such a
// package must never touch. cleanup, when not nil, runs after the environment stopped, also when
// the run is interrupted.
func MainOwn(m *testing.M, env **Env, cleanup func()) {
	os.Exit(runMain(m, env, mainMode{own: true}, cleanup))
}

// mainMode is what kind of environment runMain starts: a shared one it may attach to, one of
// its own, or one of its own on a real node, whose machine-wide changes it checks are undone.
type mainMode struct {
	own, realNode bool
}

func runMain(m *testing.M, envp **Env, mode mainMode, cleanup func()) int {
	if cleanup == nil {
		cleanup = func() {}
	}
	if !flag.Parsed() {
		flag.Parse()
	}
	var logBuf Buffer
	var logw io.Writer = &logBuf
	if testing.Verbose() || os.Getenv("BKCTL_TESTENV_LOG") != "" {
		logw = os.Stderr
	}
	// Library logs of client-go (klog: "Copying stdout failed" when an exec session is cancelled)
	// and containerd (logrus) are kept for a failing run, not interleaved with test output.
	klog.LogToStderr(false)
	klog.SetOutput(&logBuf)
	logrus.SetOutput(&logBuf)

	var before *HostSnapshot
	if mode.realNode {
		var err error
		if before, err = SnapshotHost(); err != nil {
			fmt.Fprintf(os.Stderr, "FAIL: testenv: %v\n", err)
			cleanup()
			return 1
		}
	}
	var e *Env
	var err error
	if path := os.Getenv(EnvVar); path != "" && !mode.own && !mode.realNode {
		e, err = Load(path)
	} else {
		ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		ctx, cancelStart := context.WithTimeout(ctx, 5*time.Minute)
		opts := DefaultOptions()
		opts.Log, opts.RealNode = logw, mode.realNode
		e, err = Start(ctx, opts)
		cancelStart()
		cancel()
	}
	if err != nil {
		os.Stderr.Write(logBuf.Bytes())
		fmt.Fprintf(os.Stderr, "FAIL: testenv: %v\n", err)
		cleanup()
		return 1
	}
	*envp = e

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() { // an interrupted test run must not leave the environment behind
		<-sig
		_ = e.Stop()
		cleanup()
		os.Exit(1)
	}()
	code := m.Run()
	signal.Stop(sig)
	if code != 0 {
		os.Stderr.Write(logBuf.Bytes())
	}
	t := time.Now()
	if err := e.Stop(); err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: testenv: stop: %v\n", err)
		code = 1
	}
	if before != nil && !checkHost(before, logw, time.Since(t)) {
		code = 1
	}
	cleanup()
	return code
}

// Namespace creates a fresh namespace for the test, deleted when the test ends.
func (e *Env) Namespace(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	name, err := e.CreateNamespace(ctx, t.Name())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := e.DeleteNamespace(context.Background(), name); err != nil {
			t.Error(err)
		}
	})
	return name
}

// Buffer is a bytes.Buffer that goroutines may write to while a test reads it (a process's
// output, a build's progress, the environment's log).
type Buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// Bytes returns a copy of what was written so far.
func (b *Buffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return bytes.Clone(b.buf.Bytes())
}

// String returns what was written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
