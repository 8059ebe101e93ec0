package podexec

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"testing"
	"time"
)

// Bytes written in pieces of every size, many of them wrapping around the ring, come out in
// order to a reader that takes them in pieces of other sizes.
func TestPipeKeepsOrderAcrossWrapAround(t *testing.T) {
	p := newPipe(1000)
	want := make([]byte, 1<<20)
	for i := range want {
		want[i] = byte(rand.IntN(256))
	}
	go func() {
		for rest := want; len(rest) > 0; {
			n := min(len(rest), 1+rand.IntN(2500)) // larger than the buffer too
			if _, err := p.Write(rest[:n]); err != nil {
				t.Error(err)
				return
			}
			rest = rest[n:]
		}
		p.CloseWrite(nil)
	}()
	var got bytes.Buffer
	buf := make([]byte, 1500)
	for {
		n, err := p.Read(buf[:1+rand.IntN(len(buf))])
		got.Write(buf[:n])
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(got.Bytes(), want) {
		t.Fatalf("read %d bytes that differ from the %d written", got.Len(), len(want))
	}
}

func TestPipeEnds(t *testing.T) {
	gone := errors.New("pod gone")
	tests := map[string]struct {
		end       func(p *pipe)
		wantRead  []byte
		readErr   error
		writeErr  error
		writeFull bool // a write blocked on a full buffer when the pipe ends
	}{
		"writer done: reads drain the buffer, then io.EOF": {
			end: func(p *pipe) { p.CloseWrite(nil) }, wantRead: []byte("abc"), readErr: io.EOF, writeErr: io.ErrClosedPipe,
		},
		"stream failed: reads drain the buffer, then its error": {
			end: func(p *pipe) { p.CloseWrite(gone) }, wantRead: []byte("abc"), readErr: gone, writeErr: io.ErrClosedPipe,
		},
		"closed: reads and writes fail at once": {
			end: func(p *pipe) { p.Close(net.ErrClosed) }, readErr: net.ErrClosed, writeErr: net.ErrClosed,
		},
		"closed while a write waits for room": {
			end: func(p *pipe) { p.Close(net.ErrClosed) }, readErr: net.ErrClosed, writeErr: net.ErrClosed, writeFull: true,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			p := newPipe(3)
			if _, err := p.Write([]byte("abc")); err != nil {
				t.Fatal(err)
			}
			blocked := make(chan error, 1)
			if tc.writeFull {
				go func() {
					_, err := p.Write([]byte("d"))
					blocked <- err
				}()
				time.Sleep(10 * time.Millisecond) // let it block; the test holds either way
			}
			tc.end(p)
			if tc.writeFull {
				if err := <-blocked; !errors.Is(err, tc.writeErr) {
					t.Errorf("blocked write: got %v, want %v", err, tc.writeErr)
				}
			}
			got, err := readToError(p)
			if !bytes.Equal(got, tc.wantRead) || !errors.Is(err, tc.readErr) {
				t.Errorf("read: got %q, %v; want %q, %v", got, err, tc.wantRead, tc.readErr)
			}
			if _, err := p.Write([]byte("x")); !errors.Is(err, tc.writeErr) {
				t.Errorf("write after the end: got %v, want %v", err, tc.writeErr)
			}
		})
	}
}

// readToError reads until r fails, and returns what it read and the error, io.EOF included.
func readToError(r io.Reader) ([]byte, error) {
	var got []byte
	buf := make([]byte, 2)
	for {
		n, err := r.Read(buf)
		got = append(got, buf[:n]...)
		if err != nil {
			return got, err
		}
	}
}
