package testenv

import (
	"context"
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

// Lazy is the environment of a test package that also has tests needing none: it starts on the
// first Require, so that `go test -short` runs the pure tests without a cluster, and a full run
// starts it once for all the tests that need it.
//
//	var (
//		lazy testenv.Lazy
//		env  *testenv.Env // set by the first Require, for the package's helpers
//	)
//
//	func TestMain(m *testing.M) { testenv.MainLazy(m, &lazy, &env) }
//
//	func TestApply(t *testing.T) {
//		lazy.Require(t)
//		ns := env.Namespace(t)
//		...
//	}
type Lazy struct {
	once sync.Once
	env  *Env
	envp **Env
	err  error
	log  Buffer

	bakeOnce sync.Once
	bake     *Binary
	bakeErr  error
}

// BakeOnPath puts bkctl-bake, built once for the package's run and removed after it, first on
// t's PATH, for tests that run bkctl bake in the test process. It needs no environment.
func (l *Lazy) BakeOnPath(t testing.TB) {
	t.Helper()
	l.bakeOnce.Do(func() { l.bake, l.bakeErr = BuildPrograms("bkctl-bake-", BakePackage) })
	if l.bakeErr != nil {
		t.Fatal(l.bakeErr)
	}
	t.Setenv("PATH", l.bake.Dir(t)+string(os.PathListSeparator)+os.Getenv("PATH"))
}

// Require returns the environment, starting it (or attaching to the one EnvVar names) on the
// first call. With -short the test is skipped: -short means "only what needs no environment"
// (make test-unit); a full run never skips, and a failed start fails the test with the reason.
func (l *Lazy) Require(t testing.TB) *Env {
	t.Helper()
	if testing.Short() {
		t.Skip("needs the test environment (kube-apiserver, kwok, buildkitd); -short runs only the tests that need none")
	}
	l.once.Do(l.start)
	if l.err != nil {
		t.Fatalf("testenv: %v", l.err)
	}
	return l.env
}

func (l *Lazy) start() {
	defer func() {
		if l.envp != nil {
			*l.envp = l.env // inside once.Do: every Require returns after it
		}
	}()
	if path := os.Getenv(EnvVar); path != "" {
		l.env, l.err = Load(path)
		return
	}
	var logw io.Writer = &l.log
	if testing.Verbose() || os.Getenv("BKCTL_TESTENV_LOG") != "" {
		logw = os.Stderr
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	opts := DefaultOptions()
	opts.Log = logw
	l.env, l.err = Start(ctx, opts)
	if l.err != nil {
		os.Stderr.Write(l.log.Bytes())
	}
}

// MainLazy is the whole TestMain of a package whose environment starts lazily (see Lazy): it
// runs the tests and stops the environment if one was started, also when the run is
// interrupted. The first Require stores the environment in *envp too. Library logs go to a
// buffer printed only when the run fails.
func MainLazy(m *testing.M, l *Lazy, envp **Env) {
	l.envp = envp
	os.Exit(runLazy(m, l))
}

func runLazy(m *testing.M, l *Lazy) int {
	klog.LogToStderr(false)
	klog.SetOutput(&l.log)
	logrus.SetOutput(&l.log)
	stop := func() error { // Stop of an attached environment (EnvVar) does nothing
		if l.env == nil {
			return nil
		}
		return l.env.Stop()
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sig
		l.once.Do(func() {}) // no start after this
		_ = stop()
		os.Exit(1)
	}()
	code := m.Run()
	signal.Stop(sig)
	l.once.Do(func() {}) // a start racing the end of the run cannot happen after this
	l.bakeOnce.Do(func() {})
	if l.bake != nil {
		l.bake.Remove()
	}
	if code != 0 {
		os.Stderr.Write(l.log.Bytes())
	}
	if err := stop(); err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: testenv: stop: %v\n", err)
		code = 1
	}
	return code
}
