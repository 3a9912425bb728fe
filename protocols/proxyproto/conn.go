package proxyproto

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluice-proxy/sluice/vstream"
)

// Conn is an accepted connection past its PROXY header. Read first returns
// the bytes that arrived behind the header in the same reads, then reads the
// connection underneath; writes go straight to it. RemoteAddr and LocalAddr
// are the header's source and destination when it carried addresses.
//
// Conn holds no read buffer: the few bytes read past the header are kept in
// an exact-size slice that is released once read. It unwraps to the raw
// connection ([Conn.Unwrap], [Conn.Buffered]) and implements io.WriterTo and
// io.ReaderFrom, so io.Copy between a Conn and a *net.TCPConn still splices
// once the leftover bytes are out.
type Conn struct {
	raw           net.Conn
	header        *Header
	remote, local net.Addr

	drained atomic.Bool // rest is empty for good: Read skips the lock
	mu      sync.Mutex
	rest    []byte // bytes read past the header, not yet returned
}

// newConn wraps c after its header was read through br, moving what br holds
// past the header into an exact-size slice so br can be dropped.
func newConn(c net.Conn, h *Header, br *bufio.Reader) *Conn {
	conn := &Conn{raw: c, header: h, remote: c.RemoteAddr(), local: c.LocalAddr()}
	if !h.Local && h.src != nil {
		conn.remote, conn.local = h.src, h.dst
	}
	if n := br.Buffered(); n > 0 {
		b, _ := br.Peek(n) // never reads: n bytes are buffered
		conn.rest = make([]byte, n)
		copy(conn.rest, b)
	} else {
		conn.drained.Store(true)
	}
	return conn
}

// Header returns the header the connection was accepted with.
func (c *Conn) Header() *Header { return c.header }

// Read returns bytes read past the header first, then reads the connection.
func (c *Conn) Read(p []byte) (int, error) {
	if !c.drained.Load() {
		c.mu.Lock()
		if len(c.rest) > 0 {
			n := c.takeLocked(p)
			c.mu.Unlock()
			return n, nil
		}
		c.mu.Unlock()
	}
	return c.raw.Read(p)
}

// takeLocked copies leftover bytes into p and releases the leftover slice
// once it is empty. c.mu must be held.
func (c *Conn) takeLocked(p []byte) int {
	n := copy(p, c.rest)
	c.rest = c.rest[n:]
	if len(c.rest) == 0 {
		c.rest = nil
		c.drained.Store(true)
	}
	return n
}

// WriteTo writes the leftover bytes to w, then copies the connection to w
// until EOF with io.Copy, which splices when both ends are sockets.
func (c *Conn) WriteTo(w io.Writer) (int64, error) {
	var written int64
	c.mu.Lock()
	rest := c.rest
	c.rest = nil
	c.drained.Store(true)
	c.mu.Unlock()
	if len(rest) > 0 {
		n, err := w.Write(rest)
		written += int64(n)
		if err != nil {
			return written, err
		}
	}
	n, err := io.Copy(w, c.raw)
	return written + n, err
}

// ReadFrom copies r to the connection with io.Copy, which splices when both
// ends are sockets.
func (c *Conn) ReadFrom(r io.Reader) (int64, error) { return io.Copy(c.raw, r) }

// Write writes to the connection.
func (c *Conn) Write(p []byte) (int, error) { return c.raw.Write(p) }

// Close closes the connection.
func (c *Conn) Close() error { return c.raw.Close() }

// CloseWrite half-closes the connection when it supports it (TCP, Unix); it
// returns an error wrapping errors.ErrUnsupported otherwise.
func (c *Conn) CloseWrite() error {
	if cw, ok := c.raw.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return fmt.Errorf("proxyproto: %T cannot half-close: %w", c.raw, errors.ErrUnsupported)
}

// RemoteAddr returns the PROXY source, or the socket's peer for a Local
// header.
func (c *Conn) RemoteAddr() net.Addr { return c.remote }

// LocalAddr returns the PROXY destination, or the socket's own address for a
// Local header.
func (c *Conn) LocalAddr() net.Addr { return c.local }

// SetDeadline sets the connection's read and write deadlines. Leftover bytes
// are returned regardless of the read deadline.
func (c *Conn) SetDeadline(t time.Time) error { return c.raw.SetDeadline(t) }

// SetReadDeadline sets the connection's read deadline.
func (c *Conn) SetReadDeadline(t time.Time) error { return c.raw.SetReadDeadline(t) }

// SetWriteDeadline sets the connection's write deadline.
func (c *Conn) SetWriteDeadline(t time.Time) error { return c.raw.SetWriteDeadline(t) }

// Unwrap returns the connection underneath. Read Buffered bytes through the
// Conn before reading it directly.
func (c *Conn) Unwrap() net.Conn { return c.raw }

// Buffered reports how many bytes read past the header are still to be
// returned by Read.
func (c *Conn) Buffered() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.rest)
}

var (
	_ vstream.Stream    = (*Conn)(nil)
	_ vstream.Unwrapper = (*Conn)(nil)
	_ io.WriterTo       = (*Conn)(nil)
	_ io.ReaderFrom     = (*Conn)(nil)
)
