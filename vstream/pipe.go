package vstream

import (
	"io"
	"net"
	"os"
	"sync"
	"time"
)

// DefaultPipeBuffer is how many bytes each direction of a Pipe holds
// when PipeConfig.BufferSize is 0.
const DefaultPipeBuffer = 64 << 10

// PipeConfig configures NewPipe. The zero value is usable.
type PipeConfig struct {
	// BufferSize is how many written bytes each direction holds before
	// Write blocks for a reader; 0 means DefaultPipeBuffer. The buffer
	// is allocated on the first Write in that direction.
	BufferSize int
	// Addr1 and Addr2 name the two ends: the first end's LocalAddr is
	// Addr1 and its RemoteAddr Addr2, the second end the other way round.
	// nil means Addr{Net: "pipe", Name: "pipe"}.
	Addr1, Addr2 net.Addr
}

// Pipe returns the two ends of an in-memory stream with the default
// configuration: see NewPipe.
func Pipe() (Stream, Stream) { return NewPipe(PipeConfig{}) }

// NewPipe returns the two ends of an in-memory, full-duplex stream: what is
// written to one end is read from the other.
//
// Unlike net.Pipe, each direction is buffered: a Write returns once its
// bytes are in the buffer (cfg.BufferSize, 64 KiB by default), so a writer
// runs ahead of its reader by up to that much instead of in lockstep, and
// blocks only when the buffer is full. Each Write is atomic with respect to
// other Writes on the same end.
//
// The ends are Streams and carry a Digest. They behave like connected
// sockets:
//   - CloseWrite on one end makes the other end's Reads return the buffered
//     bytes, then io.EOF; the first end can still read. Writes after
//     CloseWrite fail with io.ErrClosedPipe.
//   - Close closes both directions: the other end reads what was buffered,
//     then io.EOF, and its Writes fail with io.ErrClosedPipe; bytes that
//     were buffered for the closed end are dropped. Operations on the closed
//     end fail with net.ErrClosed, and pending ones return at once.
//   - Deadlines work as on net.Conn: an operation past its deadline fails
//     with an error whose Timeout method reports true and which matches
//     os.ErrDeadlineExceeded; a Write may have written part of its bytes.
//
// Errors other than io.EOF are *net.OpError values with Net "pipe".
func NewPipe(cfg PipeConfig) (Stream, Stream) {
	size := cfg.BufferSize
	if size <= 0 {
		size = DefaultPipeBuffer
	}
	a1, a2 := cfg.Addr1, cfg.Addr2
	if a1 == nil {
		a1 = Addr{Net: "pipe", Name: "pipe"}
	}
	if a2 == nil {
		a2 = Addr{Net: "pipe", Name: "pipe"}
	}
	ab, ba := newPipeBuf(size), newPipeBuf(size)
	e1 := &pipeEnd{in: ba, out: ab, local: a1, remote: a2, closed: make(chan struct{})}
	e2 := &pipeEnd{in: ab, out: ba, local: a2, remote: a1, closed: make(chan struct{})}
	e1.digest = NewDigest("", e1)
	e2.digest = NewDigest("", e2)
	return e1, e2
}

// pipeBuf is one direction of a pipe: a bounded ring buffer with its
// writer's end-of-data and its reader's close.
type pipeBuf struct {
	mu     sync.Mutex
	buf    []byte // ring of size bytes, allocated on first write
	size   int
	head   int  // index of the first unread byte
	n      int  // unread bytes
	eof    bool // the writer closed its side: EOF after the data
	broken bool // the reader closed: writes fail

	// readable and writable wake a waiting reader or writer. Each holds at
	// most one token; a reader that leaves something to read (data or EOF)
	// passes a token on, so several waiting readers all wake.
	readable, writable chan struct{}
}

func newPipeBuf(size int) *pipeBuf {
	return &pipeBuf{size: size, readable: make(chan struct{}, 1), writable: make(chan struct{}, 1)}
}

// signal leaves a wake-up token in c unless one is there already.
func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// take copies up to len(p) unread bytes into p. Called with b.mu held.
func (b *pipeBuf) take(p []byte) int {
	n := 0
	for n < len(p) && b.n > 0 {
		end := min(b.head+b.n, b.size)
		k := copy(p[n:], b.buf[b.head:end])
		n += k
		b.head = (b.head + k) % b.size
		b.n -= k
	}
	if b.n == 0 {
		b.head = 0
	}
	return n
}

// put copies as much of p as fits. Called with b.mu held.
func (b *pipeBuf) put(p []byte) int {
	if b.buf == nil {
		b.buf = make([]byte, b.size)
	}
	n := 0
	for n < len(p) && b.n < b.size {
		tail := (b.head + b.n) % b.size
		end := b.size
		if tail < b.head {
			end = b.head
		}
		k := copy(b.buf[tail:end], p[n:])
		n += k
		b.n += k
	}
	return n
}

// pipeEnd is one end of a pipe.
type pipeEnd struct {
	in, out       *pipeBuf // in is read here, out is read by the other end
	local, remote net.Addr
	digest        *Digest

	wmu       sync.Mutex // makes each Write atomic
	rd, wd    Deadline
	closed    chan struct{}
	closeOnce sync.Once
}

func (e *pipeEnd) Read(p []byte) (int, error) {
	b := e.in
	for {
		select {
		case <-e.closed:
			return 0, e.opError("read", net.ErrClosed)
		default:
		}
		if e.rd.Exceeded() {
			return 0, e.opError("read", os.ErrDeadlineExceeded)
		}
		b.mu.Lock()
		if b.n > 0 {
			n := b.take(p)
			more := b.n > 0
			b.mu.Unlock()
			signal(b.writable)
			if more {
				signal(b.readable)
			}
			return n, nil
		}
		if b.eof {
			b.mu.Unlock()
			signal(b.readable)
			return 0, io.EOF
		}
		b.mu.Unlock()
		if len(p) == 0 {
			return 0, nil
		}
		select {
		case <-b.readable:
		case <-e.closed:
		case <-e.rd.Done():
		}
	}
}

func (e *pipeEnd) Write(p []byte) (int, error) {
	e.wmu.Lock()
	defer e.wmu.Unlock()
	b := e.out
	n := 0
	for {
		select {
		case <-e.closed:
			return n, e.opError("write", net.ErrClosed)
		default:
		}
		if e.wd.Exceeded() {
			return n, e.opError("write", os.ErrDeadlineExceeded)
		}
		b.mu.Lock()
		if b.broken || b.eof {
			b.mu.Unlock()
			return n, e.opError("write", io.ErrClosedPipe)
		}
		k := b.put(p[n:])
		b.mu.Unlock()
		if k > 0 {
			n += k
			signal(b.readable)
		}
		if n == len(p) {
			return n, nil
		}
		select {
		case <-b.writable:
		case <-e.closed:
		case <-e.wd.Done():
		}
	}
}

// CloseWrite ends the data this end sends: the other end reads what is
// buffered, then io.EOF.
func (e *pipeEnd) CloseWrite() error {
	select {
	case <-e.closed:
		return e.opError("close", net.ErrClosed)
	default:
	}
	b := e.out
	b.mu.Lock()
	b.eof = true
	b.mu.Unlock()
	signal(b.readable)
	return nil
}

// Close closes both directions. A second Close fails with net.ErrClosed.
func (e *pipeEnd) Close() error {
	first := false
	e.closeOnce.Do(func() {
		first = true
		close(e.closed)
		out := e.out
		out.mu.Lock()
		out.eof = true
		out.mu.Unlock()
		signal(out.readable)
		in := e.in
		in.mu.Lock()
		in.broken = true
		in.buf, in.head, in.n = nil, 0, 0
		in.mu.Unlock()
		signal(in.writable)
	})
	if !first {
		return e.opError("close", net.ErrClosed)
	}
	return nil
}

func (e *pipeEnd) LocalAddr() net.Addr  { return e.local }
func (e *pipeEnd) RemoteAddr() net.Addr { return e.remote }

func (e *pipeEnd) SetDeadline(t time.Time) error {
	e.rd.Set(t)
	e.wd.Set(t)
	return nil
}

func (e *pipeEnd) SetReadDeadline(t time.Time) error  { e.rd.Set(t); return nil }
func (e *pipeEnd) SetWriteDeadline(t time.Time) error { e.wd.Set(t); return nil }

// Digest returns the end's metadata.
func (e *pipeEnd) Digest() *Digest { return e.digest }

func (e *pipeEnd) opError(op string, err error) error {
	return &net.OpError{Op: op, Net: "pipe", Source: e.local, Addr: e.remote, Err: err}
}

var (
	_ Stream   = (*pipeEnd)(nil)
	_ Digester = (*pipeEnd)(nil)
)
