package testenv

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"testing"
	"time"

	"k8s.io/klog/v2"
)

// MainNode is the TestMain of a real-node test package: it starts an environment of its own with
// Options.RealNode (one real node per machine, never a shared one), runs the tests, stops the
// environment and then fails the run if the machine is not as it was before (HostSnapshot).
// cleanup, when not nil, runs at the end, also when the run is interrupted.
func MainNode(m *testing.M, envp **Env, cleanup func()) {
	os.Exit(runMainNode(m, envp, cleanup))
}

func runMainNode(m *testing.M, envp **Env, cleanup func()) int {
	if cleanup == nil {
		cleanup = func() {}
	}
	defer cleanup()
	if !flag.Parsed() {
		flag.Parse()
	}
	var logBuf Buffer
	var logw io.Writer = &logBuf
	if testing.Verbose() || os.Getenv("BKCTL_TESTENV_LOG") != "" {
		logw = os.Stderr
	}
	klog.LogToStderr(false)
	klog.SetOutput(&logBuf)
	before, err := SnapshotHost()
	if err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: testenv: %v\n", err)
		return 1
	}
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	ctx, cancelStart := context.WithTimeout(ctx, 5*time.Minute)
	opts := DefaultOptions()
	opts.Log, opts.RealNode = logw, true
	e, err := Start(ctx, opts)
	cancelStart()
	cancel()
	if err != nil {
		os.Stderr.Write(logBuf.Bytes())
		fmt.Fprintf(os.Stderr, "FAIL: testenv: %v\n", err)
		return 1
	}
	*envp = e
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() {
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
	left, err := before.Leftovers()
	if err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: testenv: check the machine after stop: %v\n", err)
		code = 1
	}
	for _, l := range left {
		fmt.Fprintf(os.Stderr, "FAIL: testenv: the real node left behind: %s\n", l)
		code = 1
	}
	if len(left) == 0 && err == nil {
		fmt.Fprintf(logw, "testenv: stopped in %.2fs; no process, mount, netns, veth, bridge, cgroup, iptables rule, sysctl or dir left behind\n", time.Since(t).Seconds())
	}
	return code
}
