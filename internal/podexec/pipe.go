package podexec

import (
	"io"
	"sync"
)

// pipe is a one-way in-memory pipe with a bounded buffer, between a connection's user and the
// exec stream's copier. Unlike io.Pipe, a write returns once its bytes are buffered, so gRPC
// frames the next bytes while the copier sends the last ones, and a read takes all the buffered
// bytes that fit: small writes leave the pipe as one large frame of the exec stream when it is
// busy, and as soon as they come when it is not.
type pipe struct {
	mu       sync.Mutex
	readable sync.Cond // signalled when bytes were buffered or the pipe closed
	writable sync.Cond // signalled when bytes were taken or the pipe closed
	buf      []byte    // ring buffer
	start, n int       // the buffered bytes are buf[start:start+n], wrapping around
	eof      error     // set when the writer is done: reads drain the buffer, then fail with it
	closed   error     // set when the pipe is closed: reads and writes fail with it at once
}

func newPipe(size int) *pipe {
	p := &pipe{buf: make([]byte, size)}
	p.readable.L = &p.mu
	p.writable.L = &p.mu
	return p
}

// Write blocks until all of b is buffered, or the pipe closes.
func (p *pipe) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	written := 0
	for len(b) > 0 {
		for p.n == len(p.buf) && p.closed == nil && p.eof == nil {
			p.writable.Wait()
		}
		switch {
		case p.closed != nil:
			return written, p.closed
		case p.eof != nil:
			return written, io.ErrClosedPipe
		}
		var free []byte
		if end := p.start + p.n; end < len(p.buf) {
			free = p.buf[end:]
		} else {
			free = p.buf[end-len(p.buf) : p.start]
		}
		c := copy(free, b)
		p.n += c
		written += c
		b = b[c:]
		p.readable.Broadcast()
	}
	return written, nil
}

// Read blocks until bytes are buffered and takes as many as fit in b.
func (p *pipe) Read(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for p.n == 0 && p.closed == nil && p.eof == nil {
		p.readable.Wait()
	}
	if p.closed != nil {
		return 0, p.closed
	}
	if p.n == 0 {
		return 0, p.eof
	}
	read := 0
	for read < len(b) && p.n > 0 {
		c := copy(b[read:], p.buf[p.start:min(p.start+p.n, len(p.buf))])
		p.start = (p.start + c) % len(p.buf)
		p.n -= c
		read += c
	}
	if p.n == 0 {
		p.start = 0 // keep the next write contiguous
	}
	p.writable.Broadcast()
	return read, nil
}

// CloseWrite ends the writes: reads return what is buffered, then err (io.EOF for nil).
func (p *pipe) CloseWrite(err error) {
	if err == nil {
		err = io.EOF
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.eof == nil {
		p.eof = err
	}
	p.readable.Broadcast()
	p.writable.Broadcast()
}

// Close ends the pipe: reads and writes fail with err at once, buffered bytes are dropped.
func (p *pipe) Close(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed == nil {
		p.closed = err
	}
	p.n = 0
	p.readable.Broadcast()
	p.writable.Broadcast()
}
