package splice

import (
	"errors"
	"io"
	"net"
	"os"
	"syscall"
	"time"
)

// unwrapper is vstream.Unwrapper, declared here so that splice, the lowest
// floor, imports nothing of sluice. A wrapper implementing both methods adds
// no framing: its Buffered bytes are read through it, then its Unwrap result
// is used directly. *tls.Conn has NetConn, not this pair, and is never
// unwrapped.
type unwrapper interface {
	Unwrap() net.Conn
	Buffered() int
}

// closeWriter is a stream that can half-close.
type closeWriter interface {
	CloseWrite() error
}

// maxUnwrap bounds the wrapper layers Copy looks through, so that a wrapper
// that unwraps to itself cannot loop forever.
const maxUnwrap = 16

var (
	errInvalidWrite = errors.New("splice: writer returned an impossible count")
	errInvalidRead  = errors.New("splice: reader returned an impossible count")
)

// Copy copies from src to dst until EOF on src or an error, like io.Copy,
// and returns the bytes written to dst. A successful Copy returns a nil
// error, not io.EOF.
//
// Wrappers implementing Unwrap() net.Conn and Buffered() int (the
// vstream.Unwrapper pair) are looked through: Copy first moves the bytes
// a source wrapper has buffered, then reads the connection underneath;
// writes go straight to the connection under a destination wrapper. When
// both ends then are sockets (*net.TCPConn or stream *net.UnixConn) the
// bytes move with splice(2) or a pooled buffer as the pool's [Mode] says,
// and Copy holds no pipe or buffer while it waits for data. Otherwise Copy
// uses src's WriteTo or dst's ReadFrom when the other end is not a socket,
// or a pooled buffer.
func (p *Pool) Copy(dst io.Writer, src io.Reader) (int64, error) {
	r := &relay{pool: p}
	err := r.run(dst, src)
	return r.written, err
}

// CopyOptions configures [Pool.CopyWith]. The zero value makes it Copy.
type CopyOptions struct {
	// Limit, when positive, is how many bytes to copy: the copy stops
	// there, leaving the rest of src unread, and reports io.EOF if src
	// ended before. 0 means until EOF, as Copy.
	Limit int64
	// IdleTimeout, when positive, ends the copy with an
	// *IdleTimeoutError (matching ErrIdleTimeout, and saying which end
	// stalled) when no byte moved for this long. It works with the ends' deadlines
	// (SetReadDeadline on src, SetWriteDeadline on dst), which it sets and
	// leaves set: a caller that keeps its own deadlines must set them
	// again afterwards. 0 leaves the deadlines alone.
	IdleTimeout time.Duration
}

// CopyWith is [Pool.Copy] with a byte limit and an idle timeout: the tool
// to pass on a message body of known length (an HTTP Content-Length body)
// by splice(2) when both ends are sockets.
func (p *Pool) CopyWith(dst io.Writer, src io.Reader, opt CopyOptions) (int64, error) {
	r := &relay{pool: p}
	if opt.Limit > 0 {
		r.limited, r.left = true, opt.Limit
	}
	if opt.IdleTimeout > 0 {
		r.idle = newIdleClock(opt.IdleTimeout)
	}
	err := r.run(dst, src)
	if err == nil && r.limited && r.left > 0 {
		err = io.EOF
	}
	return r.written, err
}

// Copy is [Pool.Copy] on the [Default] pool.
func Copy(dst io.Writer, src io.Reader) (int64, error) {
	return Default().Copy(dst, src)
}

// readDeadliner and writeDeadliner are the halves of net.Conn that Join's
// idle timeout needs.
type (
	readDeadliner  interface{ SetReadDeadline(time.Time) error }
	writeDeadliner interface{ SetWriteDeadline(time.Time) error }
)

// relay is the state of one Copy: one direction of a connection. Its
// callbacks are method values bound once, so moving a chunk allocates
// nothing.
type relay struct {
	pool *Pool
	idle *idleClock // Join's idle timeout; nil for plain Copy

	// limited is set for a copy of at most left more bytes (CopyWith).
	limited bool
	left    int64

	dst io.Writer
	// Deadline setters of the resolved ends, when idle is set.
	setReadDeadline, setWriteDeadline func(time.Time) error

	written  int64 // bytes written to dst
	spliced  int64 // of written, moved with splice
	toSplice int64 // mode switches, for tests
	toBuffer int64

	// Socket path state (used on Linux).
	srcConn, dstConn net.Conn
	srcRaw, dstRaw   syscall.RawConn
	canSplice        bool // both ends are sockets and the mode allows it
	inSplice         bool // this direction currently splices
	buf              *[]byte
	pipe             *pipe
	pending          int   // bytes in pipe not yet written to dst
	n                int   // result of the last read or fill callback
	err              error // error of the last callback's system call
	noSplice         bool  // the last fill found splice unusable: no pipe, or unsupported
	readFn           func(uintptr) bool
	fillFn           func(uintptr) bool
	drainFn          func(uintptr) bool
}

// run copies src to dst.
func (r *relay) run(dst io.Writer, src io.Reader) (err error) {
	defer r.release()
	if dst == nil || src == nil {
		return errors.New("splice: nil reader or writer")
	}
	for i := 0; i < maxUnwrap; i++ {
		u, ok := dst.(unwrapper)
		if !ok {
			break
		}
		next := u.Unwrap()
		if next == nil {
			break
		}
		dst = next
	}
	r.dst = dst
	if r.idle != nil {
		if d, ok := dst.(writeDeadliner); ok {
			r.setWriteDeadline = d.SetWriteDeadline
			if err := r.setWriteDeadline(r.idle.deadline()); err != nil {
				return err
			}
		}
	}
	src, eof, err := r.drainWrappers(src)
	if err != nil || eof {
		return err
	}
	if r.idle != nil {
		if d, ok := src.(readDeadliner); ok {
			r.setReadDeadline = d.SetReadDeadline
			if err := r.setReadDeadline(r.idle.deadline()); err != nil {
				return err
			}
		}
	}
	if handled, err := r.socketCopy(src); handled {
		return err
	}
	return r.bufferCopy(src)
}

// drainWrappers looks through src's Unwrapper layers, first passing on to dst
// the bytes each layer has buffered. It returns the innermost reader, or
// eof when a layer reported the end of its data.
func (r *relay) drainWrappers(src io.Reader) (io.Reader, bool, error) {
	for i := 0; i < maxUnwrap; i++ {
		u, ok := src.(unwrapper)
		if !ok {
			break
		}
		for u.Buffered() > 0 {
			if r.full() {
				return nil, true, nil
			}
			r.getBuf()
			b := r.room(*r.buf)
			if n := u.Buffered(); n < len(b) {
				b = b[:n]
			}
			n, err := src.Read(b)
			if n < 0 || n > len(b) {
				return nil, false, errInvalidRead
			}
			if n > 0 {
				if werr := r.writeAll(b[:n]); werr != nil {
					return nil, false, werr
				}
				r.consume(n)
			}
			if err == io.EOF {
				return nil, true, nil
			}
			if err != nil {
				return nil, false, err
			}
			if n == 0 {
				return nil, false, io.ErrNoProgress
			}
		}
		next := u.Unwrap()
		if next == nil {
			break
		}
		src = next
	}
	r.putBuf()
	return src, r.full(), nil
}

// room returns b, cut to the bytes a limited copy may still move.
func (r *relay) room(b []byte) []byte {
	if r.limited && int64(len(b)) > r.left {
		return b[:r.left]
	}
	return b
}

// consume counts n bytes moved against the limit.
func (r *relay) consume(n int) {
	if r.limited {
		r.left -= int64(n)
	}
}

// full reports whether a limited copy has moved all its bytes.
func (r *relay) full() bool { return r.limited && r.left <= 0 }

// bufferCopy is the path for readers that are not sockets.
func (r *relay) bufferCopy(src io.Reader) error {
	if r.idle == nil && !r.limited {
		// Join needs every read and write in hand for its idle timeout,
		// plain Copy may hand over. Sockets are left out: their ReadFrom
		// and WriteTo are io.Copy's, with pinned pipes.
		if wt, ok := src.(io.WriterTo); ok && !isSocket(src) {
			n, err := wt.WriteTo(r.dst)
			r.written += n
			return err
		}
		if rf, ok := r.dst.(io.ReaderFrom); ok && !isSocket(r.dst) {
			n, err := rf.ReadFrom(src)
			r.written += n
			return err
		}
	}
	r.getBuf()
	for !r.full() {
		b := r.room(*r.buf)
		n, err := src.Read(b)
		if n < 0 || n > len(b) {
			return errInvalidRead
		}
		if n > 0 {
			r.idle.touch()
			if werr := r.writeAll(b[:n]); werr != nil {
				return werr
			}
			r.consume(n)
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			if err = r.retry(err, r.setReadDeadline, false); err != nil {
				return err
			}
		}
	}
	return nil
}

// writeAll writes b to dst, re-arming the write deadline while the idle
// timeout has not passed.
func (r *relay) writeAll(b []byte) error {
	for len(b) > 0 {
		n, err := r.dst.Write(b)
		if n < 0 || n > len(b) {
			return errInvalidWrite
		}
		if n > 0 {
			r.written += int64(n)
			b = b[n:]
			r.idle.touch()
		}
		if err != nil {
			if err = r.retry(err, r.setWriteDeadline, true); err != nil {
				return err
			}
			continue
		}
		if len(b) > 0 {
			return io.ErrShortWrite
		}
	}
	return nil
}

// retry decides what a deadline error means under the idle timeout: nil
// after re-arming the deadline when bytes moved recently, an
// *IdleTimeoutError (matching ErrIdleTimeout) naming the end waited on
// when none did. Other errors, and deadlines when there is no idle
// timeout, come back unchanged.
func (r *relay) retry(err error, set func(time.Time) error, write bool) error {
	if r.idle == nil || set == nil || !errors.Is(err, os.ErrDeadlineExceeded) {
		return err
	}
	deadline, expired := r.idle.next()
	if expired {
		if write {
			return errIdleWrite
		}
		return errIdleRead
	}
	if err := set(deadline); err != nil {
		return err
	}
	return nil
}

func (r *relay) getBuf() {
	if r.buf == nil {
		r.buf = r.pool.getBuf()
	}
}

func (r *relay) putBuf() {
	if r.buf != nil {
		r.pool.putBuf(r.buf)
		r.buf = nil
	}
}

func (r *relay) putPipe() {
	if r.pipe != nil {
		r.pool.putPipe(r.pipe, r.pending == 0)
		r.pipe = nil
	}
}

// release returns what the relay holds and adds its counts to the pool's.
func (r *relay) release() {
	r.putBuf()
	r.putPipe()
	r.pool.spliced.Add(r.spliced)
	r.pool.copied.Add(r.written - r.spliced)
	if r.toSplice != 0 {
		r.pool.toSplice.Add(r.toSplice)
	}
	if r.toBuffer != 0 {
		r.pool.toBuffer.Add(r.toBuffer)
	}
}

// isSocket reports whether x is a socket whose own ReadFrom/WriteTo would be
// io.Copy's.
func isSocket(x any) bool {
	switch x.(type) {
	case *net.TCPConn, *net.UnixConn:
		return true
	}
	return false
}
