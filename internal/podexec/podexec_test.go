package podexec_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/bkctl/bkctl/internal/podexec"
)

// Every protocol carries bytes both ways unchanged, a closed connection fails reads and writes
// with net.ErrClosed, and the session's end reaches a blocked read.
func TestPodExecProtocolsEchoAndClose(t *testing.T) {
	lazy.Require(t)
	ns := env.Namespace(t)
	pe, pod := readyPod(t, ns, "amd")
	for _, proto := range []podexec.ExecProtocol{podexec.ExecAuto, podexec.ExecSPDY, podexec.ExecWebSocket} {
		name := string(proto)
		if proto == podexec.ExecAuto {
			name = "auto"
		}
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			p := *pe
			p.Command, p.Protocol = []string{"cat"}, proto
			conn, err := p.Dial(ctx, pod)
			if err != nil {
				t.Fatal(err)
			}
			want := make([]byte, 3<<20) // more than both pipes and the OS buffers hold
			_, _ = rand.Read(want)
			written := make(chan error, 1)
			go func() {
				_, err := conn.Write(want)
				written <- err
			}()
			got := make([]byte, len(want))
			if _, err := io.ReadFull(conn, got); err != nil {
				t.Fatalf("read the echo: %v", err)
			}
			if err := <-written; err != nil {
				t.Fatalf("write: %v", err)
			}
			if !bytes.Equal(got, want) {
				t.Fatal("the echo differs from what was written")
			}

			read := make(chan error, 1)
			go func() {
				_, err := conn.Read(make([]byte, 1))
				read <- err
			}()
			if err := conn.Close(); err != nil {
				t.Fatal(err)
			}
			select {
			case err := <-read:
				if !errors.Is(err, net.ErrClosed) {
					t.Errorf("blocked read after Close: got %v, want net.ErrClosed", err)
				}
			case <-ctx.Done():
				t.Fatal("a blocked read did not return after Close")
			}
			if _, err := conn.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
				t.Errorf("write after Close: got %v, want net.ErrClosed", err)
			}
		})
	}
}

// A protocol that does not exist fails the dial and names the protocols there are.
func TestPodExecUnknownProtocol(t *testing.T) {
	lazy.Require(t)
	p, err := podexec.NewPodExec(env.Config, "default", "amd")
	if err != nil {
		t.Fatal(err)
	}
	p.Protocol = "quic"
	_, err = p.Dial(context.Background(), "nopod")
	if err == nil || !bytes.Contains([]byte(err.Error()), []byte(`unknown exec protocol "quic"`)) {
		t.Fatalf("got %v, want an unknown exec protocol error", err)
	}
}
