package testenv

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"sync"
)

// forwarder copies TCP connections from the pods' bridge to the registry on 127.0.0.1: a
// buildkitd in a pod cannot reach the host's loopback, and the bridge is the one host address a
// pod can reach. Nothing but the node's pods is on that bridge.
type forwarder struct {
	addr string
	l    net.Listener
	wg   sync.WaitGroup
}

// forwardRegistry makes the bridge (the CNI plugin then uses it as it is) with the gateway
// address and listens there. A bridge of that name is a crashed run's: the caller holds the
// machine's node lock.
func (e *Env) forwardRegistry() (*forwarder, error) {
	if _, err := os.Stat("/sys/class/net/" + nodeBridge); err == nil {
		if out, err := exec.Command("/usr/sbin/ip", "link", "delete", nodeBridge).CombinedOutput(); err != nil {
			return nil, fmt.Errorf("delete stale bridge %s: %w: %s", nodeBridge, err, out)
		}
	}
	for _, args := range [][]string{
		{"link", "add", nodeBridge, "type", "bridge"},
		{"addr", "add", nodeGateway + "/24", "dev", nodeBridge},
		{"link", "set", nodeBridge, "up"},
	} {
		if out, err := exec.Command("/usr/sbin/ip", args...).CombinedOutput(); err != nil {
			return nil, fmt.Errorf("ip %v: %w: %s", args, err, out)
		}
	}
	l, err := net.Listen("tcp", nodeGateway+":0")
	if err != nil {
		return nil, fmt.Errorf("listen on the node bridge: %w", err)
	}
	f := &forwarder{addr: l.Addr().String(), l: l}
	f.wg.Go(func() { f.serve(e.Registry) })
	return f, nil
}

func (f *forwarder) serve(target string) {
	for {
		c, err := f.l.Accept()
		if err != nil {
			return
		}
		f.wg.Go(func() {
			defer c.Close()
			var d net.Dialer
			t, err := d.DialContext(context.Background(), "tcp", target)
			if err != nil {
				return
			}
			defer t.Close()
			done := make(chan struct{}, 2)
			go func() { _, _ = io.Copy(t, c); closeWrite(t); done <- struct{}{} }()
			go func() { _, _ = io.Copy(c, t); closeWrite(c); done <- struct{}{} }()
			<-done
			<-done
		})
	}
}

func closeWrite(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.CloseWrite()
	}
}

func (f *forwarder) close() {
	f.l.Close()
}
