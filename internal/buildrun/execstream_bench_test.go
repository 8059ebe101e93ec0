package buildrun_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/bkctl/bkctl/internal/podexec"
)

// streamBytes is what one operation of BenchmarkExecStream pushes through a session.
const streamBytes = 64 << 20

// BenchmarkExecStream measures raw byte throughput through a pod exec session, without BuildKit:
// upload pushes bytes into a command's stdin (the direction of a build context), download reads
// them from its stdout, roundtrip echoes single bytes. "local" runs the same command on this host
// through pipes, the floor that the exec path adds its hops to. The CPU seconds per operation of
// the client (this binary), kube-apiserver and kwok show where the hops spend theirs.
func BenchmarkExecStream(b *testing.B) {
	lazy.Require(b)
	ns, err := env.CreateNamespace(context.Background(), "bench-stream")
	if err != nil {
		b.Fatal(err)
	}
	defer env.DeleteNamespace(context.Background(), ns)
	bld := applyBuilder(&testing.T{}, builderYAML(ns, "sticky", 1))
	pe := bld.Nodes[0].Transport.(*podexec.PodExec)
	pods, err := pe.Daemons(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	n := strconv.Itoa(streamBytes)
	dirs := []struct {
		name string
		cmd  []string
		run  func(b *testing.B, rw io.ReadWriter)
	}{
		{"upload", []string{"/bin/sh", "-c", "head -c " + n + " >/dev/null && echo ok"}, upload},
		{"download", []string{"head", "-c", n, "/dev/zero"}, download},
		{"roundtrip", []string{"cat"}, roundtrip},
	}
	for _, d := range dirs {
		for _, proto := range []podexec.ExecProtocol{podexec.ExecWebSocket, podexec.ExecSPDY, "local"} {
			b.Run(fmt.Sprintf("%s/%s", d.name, proto), func(b *testing.B) {
				if d.name != "roundtrip" {
					b.SetBytes(streamBytes)
				}
				before := cpuSeconds()
				for b.Loop() {
					ctx, cancel := context.WithCancel(context.Background())
					rw, err := dialStream(ctx, pe, pods[0], proto, d.cmd)
					if err != nil {
						cancel()
						b.Fatal(err)
					}
					d.run(b, rw)
					cancel()
				}
				if proto != "local" {
					for name, s := range cpuDelta(before, cpuSeconds()) {
						b.ReportMetric(s/float64(b.N), name+"-cpu-s/op")
					}
				}
			})
		}
	}
}

// dialStream starts cmd in the pod through exec with proto, or on this host for "local".
func dialStream(ctx context.Context, pe *podexec.PodExec, pod string, proto podexec.ExecProtocol, cmd []string) (io.ReadWriter, error) {
	if proto == "local" {
		inR, inW, err := os.Pipe()
		if err != nil {
			return nil, err
		}
		outR, outW, err := os.Pipe()
		if err != nil {
			return nil, err
		}
		c := exec.CommandContext(ctx, cmd[0], cmd[1:]...)
		c.Stdin, c.Stdout = inR, outW
		err = c.Start()
		inR.Close()
		outW.Close()
		if err != nil {
			return nil, err
		}
		go func() {
			<-ctx.Done()
			inW.Close()
			outR.Close()
			_ = c.Wait()
		}()
		return struct {
			io.Reader
			io.Writer
		}{outR, inW}, nil
	}
	p := *pe
	p.Command, p.Protocol = cmd, proto
	return p.Dial(ctx, pod)
}

// upload writes streamBytes in 16 KiB writes, the size of gRPC's HTTP/2 frames, and waits for the
// command's "ok".
func upload(b *testing.B, rw io.ReadWriter) {
	buf := make([]byte, 16<<10)
	for sent := 0; sent < streamBytes; sent += len(buf) {
		if _, err := rw.Write(buf); err != nil {
			b.Fatal(err)
		}
	}
	line, err := bufio.NewReader(rw).ReadString('\n')
	if err != nil || line != "ok\n" {
		b.Fatalf("read ok: %q, %v", line, err)
	}
}

// download reads streamBytes.
func download(b *testing.B, rw io.ReadWriter) {
	if _, err := io.CopyBuffer(io.Discard, io.LimitReader(rw, streamBytes), make([]byte, 32<<10)); err != nil {
		b.Fatal(err)
	}
}

// roundTrips is how many one-byte echoes one operation of the roundtrip benchmark waits for.
const roundTrips = 200

// roundtrip writes a byte and reads its echo, roundTrips times, and reports the mean round trip.
func roundtrip(b *testing.B, rw io.ReadWriter) {
	start := time.Now()
	buf := []byte{'x'}
	for range roundTrips {
		if _, err := rw.Write(buf); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(rw, buf); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(time.Since(start).Microseconds())/roundTrips, "µs/roundtrip")
}
