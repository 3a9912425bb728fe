package vstream

import "net"

// Stream is a bidirectional byte stream that can half-close: a net.Conn plus
// CloseWrite, which signals end of data to the peer while reads go on.
// *net.TCPConn and *net.UnixConn are Streams.
type Stream interface {
	net.Conn
	// CloseWrite shuts down the writing side; the peer reads EOF once
	// everything written before it has been delivered.
	CloseWrite() error
}

// Unwrapper is implemented by connection wrappers that add no framing of
// their own: bytes written to the wrapper go unchanged to the connection
// underneath, and bytes read come from it, possibly through a read buffer.
// Code that wants the raw socket (splice) first reads the Buffered bytes
// through the wrapper, then uses Unwrap's result directly.
//
// TLS and other transforming layers must not implement Unwrapper.
type Unwrapper interface {
	// Unwrap returns the connection underneath.
	Unwrap() net.Conn
	// Buffered reports how many bytes the wrapper has read from the
	// connection underneath but not yet returned from Read. A Read of at
	// most that many bytes returns them without touching the connection.
	Buffered() int
}

// Digester is implemented by streams that carry a Digest.
type Digester interface {
	// Digest returns the stream's metadata; never nil.
	Digest() *Digest
}

// Conn is a Stream with its Digest. It wraps a connection without changing
// its bytes, so it unwraps to the connection for splicing.
type Conn struct {
	Stream
	digest *Digest
}

// NewConn attaches d to s. A nil d gets a fresh Digest built from s.
func NewConn(s Stream, d *Digest) *Conn {
	if d == nil {
		d = NewDigest("", s)
	}
	return &Conn{Stream: s, digest: d}
}

// Digest returns the connection's metadata.
func (c *Conn) Digest() *Digest { return c.digest }

// Unwrap returns the stream underneath.
func (c *Conn) Unwrap() net.Conn { return c.Stream }

// Buffered reports 0: Conn does not buffer reads.
func (c *Conn) Buffered() int { return 0 }

var (
	_ Stream    = (*Conn)(nil)
	_ Digester  = (*Conn)(nil)
	_ Unwrapper = (*Conn)(nil)
	_ Stream    = (*net.TCPConn)(nil)
	_ Stream    = (*net.UnixConn)(nil)
)
