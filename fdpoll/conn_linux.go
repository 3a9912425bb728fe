package fdpoll

import (
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Conn is a stream socket served by a Poller. It is a net.Conn with
// half-close and a syscall.RawConn; it is safe for concurrent use.
type Conn struct {
	p            *set
	fd           int
	slot, gen    uint32
	laddr, raddr net.Addr

	refs   atomic.Int64 // 1 while open, +1 per operation in progress; the descriptor closes at 0
	closed atomic.Bool  // Close was called
	down   atomic.Bool  // closed, or the Poller is: operations fail with net.ErrClosed
	hup    atomic.Bool  // EPOLLRDHUP, EPOLLHUP or EPOLLERR seen: a read may find an end or an error

	rmu, wmu sync.Mutex // one reader and one writer at a time
	r, w     waiter
}

var (
	_ net.Conn     = (*Conn)(nil)
	_ syscall.Conn = (*Conn)(nil)
)

// isDown reports whether c or its Poller is closed.
func (c *Conn) isDown() bool { return c.down.Load() || c.p.closed.Load() }

// incref takes a reference for an operation; false once c is closed.
func (c *Conn) incref() bool {
	for {
		n := c.refs.Load()
		if n <= 0 || c.isDown() {
			return false
		}
		if c.refs.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// decref drops a reference, closing the descriptor with the last one.
func (c *Conn) decref() {
	if c.refs.Add(-1) == 0 {
		unix.Close(c.fd)
	}
}

// Read reads from the socket, waiting for data while there is none.
func (c *Conn) Read(b []byte) (int, error) {
	if !c.incref() {
		return 0, c.opErr("read", net.ErrClosed)
	}
	defer c.decref()
	if len(b) == 0 {
		return 0, nil
	}
	c.rmu.Lock()
	defer c.rmu.Unlock()
	for {
		if c.isDown() {
			return 0, c.opErr("read", net.ErrClosed)
		}
		if c.r.expired.Load() {
			return 0, c.opErr("read", os.ErrDeadlineExceeded)
		}
		s := c.r.seq.Load()
		if s == c.r.idle {
			c.r.wait(s)
			continue
		}
		n, errno := rawIO(unix.SYS_READ, c.fd, b)
		switch errno {
		case 0:
			if n == 0 {
				return 0, io.EOF
			}
			// Less than asked means the queue is empty. Unless an end of
			// stream or an error is pending, the next edge will say when
			// there is more: no need to read again to find EAGAIN.
			if n < len(b) && !c.hup.Load() {
				c.r.idle = s
			}
			return n, nil
		case unix.EAGAIN:
			c.r.idle = s
		case unix.EINTR:
		default:
			return 0, c.opErr("read", os.NewSyscallError("read", errno))
		}
	}
}

// Write writes all of b, waiting for buffer space while there is none.
func (c *Conn) Write(b []byte) (int, error) {
	if !c.incref() {
		return 0, c.opErr("write", net.ErrClosed)
	}
	defer c.decref()
	if len(b) == 0 {
		return 0, nil
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	nn := 0
	for {
		if c.isDown() {
			return nn, c.opErr("write", net.ErrClosed)
		}
		if c.w.expired.Load() {
			return nn, c.opErr("write", os.ErrDeadlineExceeded)
		}
		s := c.w.seq.Load()
		if s == c.w.idle {
			c.w.wait(s)
			continue
		}
		n, errno := rawIO(unix.SYS_WRITE, c.fd, b[nn:])
		switch errno {
		case 0:
			nn += n
			if nn == len(b) {
				return nn, nil
			}
		case unix.EAGAIN:
			c.w.idle = s
		case unix.EINTR:
		default:
			return nn, c.opErr("write", os.NewSyscallError("write", errno))
		}
	}
}

// rawIO runs read(2) or write(2) on a non-blocking descriptor. It never
// blocks, so it skips the scheduler's system-call bookkeeping.
func rawIO(trap uintptr, fd int, b []byte) (int, syscall.Errno) {
	if len(b) == 0 {
		return 0, 0
	}
	n, _, errno := syscall.RawSyscall(trap, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
	if errno != 0 {
		return 0, errno
	}
	return int(n), 0
}

// Close closes the connection; reads and writes in progress return
// net.ErrClosed.
func (c *Conn) Close() error {
	if c.closed.Swap(true) {
		return c.opErr("close", net.ErrClosed)
	}
	c.down.Store(true)
	c.p.unregister(c)
	c.r.interrupt()
	c.w.interrupt()
	c.r.stopTimer()
	c.w.stopTimer()
	c.decref()
	return nil
}

// CloseWrite shuts down the writing side (a TCP FIN); reads go on.
func (c *Conn) CloseWrite() error { return c.shutdown(unix.SHUT_WR) }

// CloseRead shuts down the reading side.
func (c *Conn) CloseRead() error { return c.shutdown(unix.SHUT_RD) }

func (c *Conn) shutdown(how int) error {
	if !c.incref() {
		return c.opErr("shutdown", net.ErrClosed)
	}
	defer c.decref()
	if err := unix.Shutdown(c.fd, how); err != nil {
		return c.opErr("shutdown", os.NewSyscallError("shutdown", err))
	}
	return nil
}

// LocalAddr returns the local address.
func (c *Conn) LocalAddr() net.Addr { return c.laddr }

// RemoteAddr returns the peer's address.
func (c *Conn) RemoteAddr() net.Addr { return c.raddr }

// SetDeadline sets both deadlines.
func (c *Conn) SetDeadline(t time.Time) error {
	if c.isDown() {
		return c.opErr("set", net.ErrClosed)
	}
	c.r.setDeadline(t)
	c.w.setDeadline(t)
	return nil
}

// SetReadDeadline sets the deadline for reads, including one in progress.
func (c *Conn) SetReadDeadline(t time.Time) error {
	if c.isDown() {
		return c.opErr("set", net.ErrClosed)
	}
	c.r.setDeadline(t)
	return nil
}

// SetWriteDeadline sets the deadline for writes, including one in progress.
func (c *Conn) SetWriteDeadline(t time.Time) error {
	if c.isDown() {
		return c.opErr("set", net.ErrClosed)
	}
	c.w.setDeadline(t)
	return nil
}

// SyscallConn returns the raw socket. Its Read and Write wait through the
// Poller, with the Conn's deadlines.
func (c *Conn) SyscallConn() (syscall.RawConn, error) { return rawConn{c}, nil }

// opErr wraps err as package net does, so that callers' errors.Is and
// net.Error checks behave the same as on a *net.TCPConn.
func (c *Conn) opErr(op string, err error) error {
	return &net.OpError{Op: op, Net: c.network(), Source: c.laddr, Addr: c.raddr, Err: err}
}

func (c *Conn) network() string {
	if c.laddr != nil {
		return c.laddr.Network()
	}
	return "tcp"
}

// rawConn is the Conn's syscall.RawConn.
type rawConn struct{ c *Conn }

var _ syscall.RawConn = rawConn{}

// Control runs f on the descriptor.
func (rc rawConn) Control(f func(fd uintptr)) error {
	c := rc.c
	if !c.incref() {
		return c.opErr("raw-control", net.ErrClosed)
	}
	defer c.decref()
	f(uintptr(c.fd))
	return nil
}

// Read runs f until it returns true, waiting for readability in between.
func (rc rawConn) Read(f func(fd uintptr) bool) error {
	return rc.c.rawWait(&rc.c.rmu, &rc.c.r, "raw-read", f)
}

// Write runs f until it returns true, waiting for writability in between.
func (rc rawConn) Write(f func(fd uintptr) bool) error {
	return rc.c.rawWait(&rc.c.wmu, &rc.c.w, "raw-write", f)
}

func (c *Conn) rawWait(mu *sync.Mutex, w *waiter, op string, f func(fd uintptr) bool) error {
	if !c.incref() {
		return c.opErr(op, net.ErrClosed)
	}
	defer c.decref()
	mu.Lock()
	defer mu.Unlock()
	for {
		if c.isDown() {
			return c.opErr(op, net.ErrClosed)
		}
		if w.expired.Load() {
			return c.opErr(op, os.ErrDeadlineExceeded)
		}
		s := w.seq.Load()
		if f(uintptr(c.fd)) {
			return nil
		}
		w.idle = s
		w.wait(s)
	}
}
