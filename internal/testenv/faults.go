package testenv

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"k8s.io/client-go/rest"
)

// ErrNotOwned refuses a fault on an environment that another process owns (one attached with
// Load or through EnvVar): other test binaries share it.
var ErrNotOwned = errors.New("the test environment belongs to another process")

// StopAPIServer kills kube-apiserver with SIGKILL, as a crash would, and returns once it has
// exited. etcd, the controllers, kwok and the buildkitds keep running; clients see connections
// refused until StartAPIServer. It refuses an environment this process does not own.
func (e *Env) StopAPIServer() error {
	if !e.owned {
		return fmt.Errorf("stop kube-apiserver: %w", ErrNotOwned)
	}
	e.faultMu.Lock()
	defer e.faultMu.Unlock()
	p := e.cp.apiserver
	if p == nil || p.exited() != nil {
		return errors.New("stop kube-apiserver: it is not running")
	}
	_ = syscall.Kill(-p.id.PID, syscall.SIGKILL)
	select {
	case <-p.done:
		fmt.Fprintf(e.log, "testenv: kube-apiserver (pid %d) killed\n", p.id.PID)
		return nil
	case <-time.After(30 * time.Second):
		return fmt.Errorf("stop kube-apiserver: pid %d still runs 30s after SIGKILL", p.id.PID)
	}
}

// StartAPIServer starts kube-apiserver again after StopAPIServer, with the same flags, port,
// certificates and etcd, and returns once its /readyz answers. The controllers, kwok and the
// environment's own clients reconnect by themselves. It refuses an environment this process does
// not own.
func (e *Env) StartAPIServer(ctx context.Context) error {
	if !e.owned {
		return fmt.Errorf("start kube-apiserver: %w", ErrNotOwned)
	}
	e.faultMu.Lock()
	defer e.faultMu.Unlock()
	old := e.cp.apiserver
	if old == nil {
		return errors.New("start kube-apiserver: the environment never started one")
	}
	if old.exited() == nil {
		return errors.New("start kube-apiserver: it is still running (hint: StopAPIServer first)")
	}
	client, err := rest.HTTPClientFor(e.Config)
	if err != nil {
		return fmt.Errorf("start kube-apiserver: %w", err)
	}
	// While it was down, a client may have been given its port as the local end of a connection
	// (it is an ephemeral port); such a collision is short-lived, so a failed bind is retried.
	for try := 1; ; try++ {
		cmd := exec.Command(old.cmd.Path, old.cmd.Args[1:]...)
		p, err := e.run.startProcess("kube-apiserver", cmd)
		if err != nil {
			return err
		}
		e.cp.apiserver = p
		err = e.step(ctx, "restarted kube-apiserver /readyz", 2*time.Minute, func(ctx context.Context) error {
			return waitHealthy(ctx, p, "kube-apiserver", httpOK(client, e.cp.server+"/readyz"))
		}, &e.cp.apiserver)
		if err == nil {
			fmt.Fprintf(e.log, "testenv: kube-apiserver restarted (pid %d)\n", p.id.PID)
			return nil
		}
		if p.exited() == nil || try == 5 || !strings.Contains(err.Error(), "address already in use") {
			p.stop(10 * time.Second)
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(time.Duration(try) * 200 * time.Millisecond):
		}
	}
}
