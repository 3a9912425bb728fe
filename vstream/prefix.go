package vstream

import (
	"errors"
	"fmt"
	"net"
	"sync"
)

// PrefixConn is a connection whose reads first return bytes already read
// from it (a peeked TLS ClientHello, a sniffed protocol preface), then go
// on reading the connection. It adds no framing: it unwraps to the
// connection underneath, so splice passes the prefix on through it and
// then works on the socket.
type PrefixConn struct {
	net.Conn
	mu     sync.Mutex
	prefix []byte
}

// WithPrefix returns c with prefix to be read first. The PrefixConn owns
// prefix from then on.
func WithPrefix(c net.Conn, prefix []byte) *PrefixConn {
	return &PrefixConn{Conn: c, prefix: prefix}
}

// Read returns the prefix's bytes first, then reads the connection.
func (c *PrefixConn) Read(p []byte) (int, error) {
	c.mu.Lock()
	if len(c.prefix) > 0 {
		n := copy(p, c.prefix)
		c.prefix = c.prefix[n:]
		if len(c.prefix) == 0 {
			c.prefix = nil
		}
		c.mu.Unlock()
		return n, nil
	}
	c.mu.Unlock()
	return c.Conn.Read(p)
}

// CloseWrite half-closes the connection when it can.
func (c *PrefixConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return fmt.Errorf("vstream: %T cannot half-close: %w", c.Conn, errors.ErrUnsupported)
}

// Unwrap returns the connection underneath.
func (c *PrefixConn) Unwrap() net.Conn { return c.Conn }

// Buffered reports how many prefix bytes are still to be read.
func (c *PrefixConn) Buffered() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.prefix)
}

var (
	_ Stream    = (*PrefixConn)(nil)
	_ Unwrapper = (*PrefixConn)(nil)
)
