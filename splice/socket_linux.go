package splice

import (
	"io"
	"net"
	"os"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/sluice-proxy/sluice/fdpoll"
)

// rawSocket returns the socket under x when x is a *net.TCPConn, a stream
// *net.UnixConn or an *fdpoll.Conn (always a stream socket).
func rawSocket(x any) (net.Conn, syscall.RawConn, bool) {
	switch c := x.(type) {
	case *net.TCPConn:
		rc, err := c.SyscallConn()
		return c, rc, err == nil
	case *fdpoll.Conn:
		rc, err := c.SyscallConn()
		return c, rc, err == nil
	case *net.UnixConn:
		rc, err := c.SyscallConn()
		if err != nil {
			return nil, nil, false
		}
		typ := -1
		cerr := rc.Control(func(fd uintptr) {
			typ, err = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_TYPE)
		})
		if cerr != nil || err != nil || typ != unix.SOCK_STREAM {
			return nil, nil, false
		}
		return c, rc, true
	}
	return nil, nil, false
}

// socketCopy copies from src when it is a socket, waiting for readability
// through its RawConn so that nothing is held while the connection idles. It
// splices when dst is a socket too. handled is false when src is no socket.
func (r *relay) socketCopy(src io.Reader) (handled bool, err error) {
	srcConn, srcRaw, ok := rawSocket(src)
	if !ok {
		return false, nil
	}
	r.srcConn, r.srcRaw = srcConn, srcRaw
	r.readFn = r.readBuffer
	if r.pool.mode != Never {
		if dstConn, dstRaw, ok := rawSocket(r.dst); ok {
			r.dstConn, r.dstRaw = dstConn, dstRaw
			r.canSplice = true
			r.inSplice = r.pool.mode == Always
			r.fillFn = r.fillPipe
			r.drainFn = r.drainPipe
		}
	}
	for !r.full() {
		var eof bool
		if r.inSplice {
			eof, err = r.spliceChunk()
		} else {
			eof, err = r.bufferChunk()
		}
		if eof || err != nil {
			return true, err
		}
	}
	return true, nil
}

// bufferChunk reads one chunk from the source socket into a pooled buffer
// and writes it to dst.
func (r *relay) bufferChunk() (eof bool, err error) {
	if err := r.srcRaw.Read(r.readFn); err != nil {
		return false, r.retry(err, r.setReadDeadline, false)
	}
	if r.err != nil {
		err := r.opError("read", r.srcConn, r.err)
		r.err = nil
		return false, err
	}
	n := r.n
	if n == 0 {
		return true, nil
	}
	r.idle.touch()
	if err := r.writeAll((*r.buf)[:n]); err != nil {
		return false, err
	}
	r.consume(n)
	if r.canSplice && n >= r.pool.threshold {
		r.inSplice = true
		r.toSplice++
		r.putBuf()
	}
	return false, nil
}

// readBuffer is the RawConn.Read callback of buffer mode. It takes a buffer
// only for the read and gives it back when there is nothing to read.
//
// It always attempts the read, even after a short read that suggests the
// socket is drained: RawConn.Read resets the netpoller's readiness before
// its first call, and a short read can leave an EOF unreported (the kernel
// reports it only on the next read), so waiting without reading could wait
// forever. The write to dst happens after RawConn.Read returns, never inside
// the callback: the callback holds a reference on the source descriptor,
// and Close of the source waits for it, so a write blocked inside it would
// deadlock Join's closing of both connections.
func (r *relay) readBuffer(fd uintptr) bool {
	r.getBuf()
	for {
		n, err := unix.Read(int(fd), r.room(*r.buf))
		switch err {
		case nil:
			r.n, r.err = n, nil
			return true
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			r.putBuf()
			r.waiting()
			return false
		}
		r.n, r.err = 0, err
		return true
	}
}

// spliceChunk splices one chunk from the source socket into a pipe and
// from the pipe to dst.
func (r *relay) spliceChunk() (eof bool, err error) {
	if err := r.srcRaw.Read(r.fillFn); err != nil {
		return false, r.retry(err, r.setReadDeadline, false)
	}
	if r.noSplice {
		// No pipe to be had (out of file descriptors), or no splice for
		// these sockets: copy through buffers from now on.
		r.noSplice = false
		r.putPipe()
		r.canSplice, r.inSplice = false, false
		r.toBuffer++
		return false, nil
	}
	if r.err != nil {
		err := r.opError("read", r.srcConn, os.NewSyscallError("splice", r.err))
		r.err = nil
		return false, err
	}
	n := r.n
	if n == 0 {
		return true, nil
	}
	r.idle.touch()
	r.pending = n
	for r.pending > 0 {
		if err := r.dstRaw.Write(r.drainFn); err != nil {
			if err = r.retry(err, r.setWriteDeadline, true); err != nil {
				return false, err
			}
			continue
		}
		if r.err != nil {
			err := r.opError("write", r.dstConn, os.NewSyscallError("splice", r.err))
			r.err = nil
			return false, err
		}
	}
	r.consume(n)
	if r.pool.mode == Auto && n < r.pool.threshold {
		r.inSplice = false
		r.toBuffer++
		r.putPipe()
	}
	return false, nil
}

// fillPipe is the RawConn.Read callback of splice mode: it takes an empty
// pipe only for the splice and gives it back when there is nothing to read.
func (r *relay) fillPipe(fd uintptr) bool {
	if r.pipe == nil {
		p, err := r.pool.getPipe()
		if err != nil {
			r.noSplice = true
			return true
		}
		r.pipe = p
	}
	for {
		size := r.pipe.size
		if r.limited && int64(size) > r.left {
			size = int(r.left)
		}
		n, err := unix.Splice(int(fd), nil, r.pipe.w, nil, size, spliceFlags)
		switch err {
		case nil:
			r.n, r.err = int(n), nil
			return true
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			r.putPipe()
			r.waiting()
			return false
		case unix.EINVAL, unix.ENOSYS:
			// The kernel (or a seccomp filter) will not splice from
			// this socket; nothing was consumed, so buffers can take
			// over.
			r.noSplice = true
			return true
		}
		r.n, r.err = 0, err
		return true
	}
}

// drainPipe is the RawConn.Write callback of splice mode: it splices the
// pipe's pending bytes into the destination socket until the pipe is empty
// or the socket is full.
func (r *relay) drainPipe(fd uintptr) bool {
	for r.pending > 0 {
		n, err := unix.Splice(r.pipe.r, nil, int(fd), nil, r.pending, spliceFlags)
		if n > 0 {
			r.idle.touch()
			r.pending -= int(n)
			r.written += n
			r.spliced += n
		}
		switch err {
		case nil:
			if n <= 0 {
				r.err = io.ErrNoProgress
				return true
			}
		case unix.EINTR:
		case unix.EAGAIN:
			return false
		default:
			r.err = err
			return true
		}
	}
	return true
}

// waiting runs when the copy is about to wait for data, holding nothing.
func (r *relay) waiting() {
	if h := r.pool.waitHook; h != nil {
		h(r)
	}
}

// opError describes a failed system call on c the way package net does.
func (r *relay) opError(op string, c net.Conn, err error) error {
	if _, ok := err.(syscall.Errno); ok {
		err = os.NewSyscallError(op, err)
	}
	e := &net.OpError{Op: op, Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: err}
	if e.Source != nil {
		e.Net = e.Source.Network()
	}
	return e
}
