package testenv

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	bkclient "github.com/moby/buildkit/client"
	"golang.org/x/sys/unix"
)

// daemon is one buildkitd with its own state directory and unix socket. The socket exists from
// the start; the daemon behind it starts with the first client (or at once, see start), and
// inherits the socket by socket activation, so that client waits in the listen queue instead of
// failing. A pod nobody builds on costs no daemon.
type daemon struct {
	name     string // a short number: unix socket paths are limited to 108 bytes
	platform string // the only platform its worker announces; "" for buildkitd's default list
	addr     string // unix:///…/d/N.sock
	dir      string
	env      *Env

	mu      sync.Mutex
	lis     *net.UnixListener // until the daemon has it
	proc    *process
	stopped bool

	readyOnce sync.Once
	ready     chan struct{}
	err       error // set before ready is closed
}

// newDaemon makes the daemon's socket and configuration. With lazy, the daemon starts when the
// first client connects; otherwise now.
func (e *Env) newDaemon(name, platform string, lazy bool) (*daemon, error) {
	d := &daemon{
		name:     name,
		platform: platform,
		dir:      filepath.Join(e.RunDir, "d", name),
		addr:     e.daemonAddr(name),
		env:      e,
		ready:    make(chan struct{}),
	}
	if err := os.MkdirAll(d.dir, 0o755); err != nil {
		return nil, err
	}
	// Each daemon has its own trace socket: buildkitd's default, /run/buildkit/otel-grpc.sock, is
	// one path for every daemon of every environment on the machine, and a daemon that finds it
	// taken fails to start.
	// insecure-entitlements stands for the --allow-insecure-entitlement=network.host that a
	// builder pod's buildkitd gets by default.
	cfg := fmt.Sprintf(`root = %q
insecure-entitlements = ["network.host"]
[worker.oci]
  enabled = true
  snapshotter = "overlayfs"
  networkMode = "host"
  gc = false
[worker.containerd]
  enabled = false
[registry.%q]
  http = true
  insecure = true
[otel]
  socketPath = %q
`, filepath.Join(d.dir, "root"), e.Registry, filepath.Join(d.dir, "otel.sock"))
	if err := os.WriteFile(filepath.Join(d.dir, "buildkitd.toml"), []byte(cfg), 0o644); err != nil {
		return nil, err
	}
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: d.addr[len("unix://"):], Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("listen for buildkitd %s: %w", name, err)
	}
	l.SetUnlinkOnClose(false) // the daemon keeps listening on it
	d.lis = l
	if lazy {
		if err := e.lazy.add(d); err != nil {
			d.stop()
			return nil, err
		}
		return d, nil
	}
	if err := d.start(); err != nil {
		d.stop()
		return nil, err
	}
	return d, nil
}

// lazyStarter starts each idle daemon once a connection is queued on its socket: one goroutine
// polls all idle sockets, without accepting (the daemon accepts it).
type lazyStarter struct {
	mu   sync.Mutex
	idle map[*daemon]int // listening fd
	once sync.Once
	done chan struct{}
}

func newLazyStarter() *lazyStarter {
	return &lazyStarter{idle: map[*daemon]int{}, done: make(chan struct{})}
}

func (s *lazyStarter) add(d *daemon) error {
	rc, err := d.lis.SyscallConn()
	if err != nil {
		return err
	}
	var fd int
	if err := rc.Control(func(f uintptr) { fd = int(f) }); err != nil {
		return err
	}
	s.mu.Lock()
	s.idle[d] = fd
	s.mu.Unlock()
	s.once.Do(func() { go s.loop() })
	return nil
}

func (s *lazyStarter) remove(d *daemon) {
	s.mu.Lock()
	delete(s.idle, d)
	s.mu.Unlock()
}

func (s *lazyStarter) loop() {
	for {
		select {
		case <-s.done:
			return
		default:
		}
		s.mu.Lock()
		ds := make([]*daemon, 0, len(s.idle))
		fds := make([]unix.PollFd, 0, len(s.idle))
		for d, fd := range s.idle {
			ds = append(ds, d)
			fds = append(fds, unix.PollFd{Fd: int32(fd), Events: unix.POLLIN})
		}
		s.mu.Unlock()
		if len(fds) == 0 {
			time.Sleep(20 * time.Millisecond)
			continue
		}
		if n, err := unix.Poll(fds, 20); err != nil || n == 0 {
			continue
		}
		for i, f := range fds {
			if f.Revents&unix.POLLIN == 0 {
				continue
			}
			d := ds[i]
			s.remove(d)
			go func() {
				if err := d.start(); err != nil {
					fmt.Fprintf(d.env.log, "testenv: buildkitd %s: start: %v\n", d.name, err)
					d.fail(err)
					d.closeListener() // the queued clients get an error instead of waiting forever
				}
			}()
		}
	}
}

func (s *lazyStarter) stop() { close(s.done) }

func (d *daemon) closeListener() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.lis != nil {
		d.lis.Close()
		d.lis = nil
	}
}

// start runs buildkitd on the socket, once.
func (d *daemon) start() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.stopped || d.proc != nil {
		return nil
	}
	f, err := d.lis.File()
	if err != nil {
		return err
	}
	defer f.Close()
	args := []string{"-c", `LISTEN_PID=$$ exec "$0" "$@"`, // systemd's protocol: LISTEN_PID is the daemon's own pid
		filepath.Join(d.env.BinDir, "buildkitd"), "--config=" + filepath.Join(d.dir, "buildkitd.toml"), "--addr=fd://"}
	if d.platform != "" {
		args = append(args, "--oci-worker-platform="+d.platform)
	}
	cmd := exec.Command("/bin/sh", args...)
	cmd.Env = append(os.Environ(), "LISTEN_FDS=1",
		"PATH="+d.env.BinDir+":/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
	cmd.ExtraFiles = []*os.File{f} // fd 3, as LISTEN_FDS=1 says
	p, err := d.env.run.startProcess("buildkitd-"+d.name, cmd)
	if err != nil {
		return err
	}
	d.proc = p
	d.lis.Close()
	d.lis = nil
	go d.waitAnswer(p)
	return nil
}

func (d *daemon) waitAnswer(p *process) {
	err := d.answer(p)
	if perr := p.exited(); err != nil && perr != nil {
		// buildkitd died before it answered (seen once under load in CI): start it once more,
		// now listening on the socket path itself, so that the clients' retries find it.
		fmt.Fprintf(d.env.log, "testenv: buildkitd %s: %v\ntestenv: buildkitd %s: restarting\n", d.name, perr, d.name)
		err = perr
		if p2, rerr := d.restart(); rerr != nil {
			err = errors.Join(err, rerr)
		} else {
			err = d.answer(p2)
		}
	}
	if err != nil {
		d.fail(err)
		return
	}
	d.readyOnce.Do(func() { close(d.ready) })
	d.watch(p)
}

// watch restarts the daemon when its process exits while the environment still needs it, so that
// one crash does not leave a pod whose every exec fails; each exit is logged. KillDaemon can
// hold the restart back.
func (d *daemon) watch(p *process) {
	for {
		<-p.done
		d.mu.Lock()
		stopped := d.stopped
		d.mu.Unlock()
		if stopped {
			return
		}
		fmt.Fprintf(d.env.log, "testenv: buildkitd %s: %v\n", d.name, p.exited())
		d.waitUnheld() // KillDaemon may hold the restart, as a kubelet's back-off would
		fmt.Fprintf(d.env.log, "testenv: buildkitd %s: restarting\n", d.name)
		next, err := d.restart()
		if err == nil {
			err = d.answer(next)
		}
		if err != nil {
			fmt.Fprintf(d.env.log, "testenv: buildkitd %s: restart: %v\n", d.name, err)
			return
		}
		p = next
	}
}

// answer waits up to a minute until the daemon of p lists its workers; it gives up at once when
// p exits, and then returns its exit with the tail of its log. A restarted daemon makes its
// socket only once it runs, so a refused or missing socket is tried again.
func (d *daemon) answer(p *process) error {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	go func() {
		select {
		case <-p.done:
			cancel()
		case <-ctx.Done():
		}
	}()
	var err error
	for {
		var c *bkclient.Client
		c, err = bkclient.New(ctx, d.addr)
		if err == nil {
			_, err = c.ListWorkers(ctx)
			c.Close()
		}
		if err == nil || ctx.Err() != nil {
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(50 * time.Millisecond):
		}
	}
	if err != nil {
		if perr := p.exited(); perr != nil {
			return perr
		}
	}
	return err
}

// restart starts buildkitd again on the daemon's socket path (no socket activation: the first
// process took the listener with it).
func (d *daemon) restart() (*process, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.stopped {
		return nil, errors.New("stopped")
	}
	_ = os.Remove(d.addr[len("unix://"):])
	args := []string{"--config=" + filepath.Join(d.dir, "buildkitd.toml"), "--addr=" + d.addr}
	if d.platform != "" {
		args = append(args, "--oci-worker-platform="+d.platform)
	}
	cmd := exec.Command(filepath.Join(d.env.BinDir, "buildkitd"), args...)
	cmd.Env = append(os.Environ(), "PATH="+d.env.BinDir+":/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
	p, err := d.env.run.startProcess("buildkitd-"+d.name+"-restart", cmd)
	if err != nil {
		return nil, err
	}
	d.proc = p
	return p, nil
}

func (d *daemon) fail(err error) {
	d.readyOnce.Do(func() {
		d.err = fmt.Errorf("buildkitd %s: %w", d.name, err)
		close(d.ready)
	})
}

// wait blocks until the daemon answers or failed; a lazy daemon must have had a client.
func (d *daemon) wait(ctx context.Context) error {
	select {
	case <-d.ready:
		return d.err
	case <-ctx.Done():
		return fmt.Errorf("wait for buildkitd %s: %w", d.name, ctx.Err())
	}
}

// stop ends the daemon and removes its state; buildkitd unmounts its snapshots when it exits,
// and anything it leaves mounted is unmounted here.
func (d *daemon) stop() error {
	d.env.lazy.remove(d)
	d.mu.Lock()
	d.stopped = true
	lis, p := d.lis, d.proc
	d.lis = nil
	d.mu.Unlock()
	d.fail(errors.New("stopped"))
	if lis != nil {
		lis.Close()
	}
	if p != nil {
		p.stop(10 * time.Second)
	}
	if err := unmountBelow(d.dir); err != nil {
		return err
	}
	_ = os.Remove(d.addr[len("unix://"):])
	return os.RemoveAll(d.dir)
}

func daemonName(n int) string { return strconv.Itoa(n) }

// daemonAddr is the address of the daemon called name.
func (e *Env) daemonAddr(name string) string {
	return "unix://" + filepath.Join(e.RunDir, "d", name+".sock")
}
