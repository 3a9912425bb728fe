package quicstream

import (
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/sluice-proxy/sluice/vstream"
)

// CodeCancel is the QUIC application error code Close uses to tell the
// peer this side stopped reading (STOP_SENDING) before the peer's FIN.
const CodeCancel quic.StreamErrorCode = 0x10c

// Stream adapts a bidirectional QUIC stream to vstream.Stream: a net.Conn
// with CloseWrite and a Digest. Its addresses are its connection's, and its
// Digest carries the connection's TLS state.
//
// QUIC streams close each direction on its own; Stream maps that onto
// socket semantics:
//   - CloseWrite closes the send direction (the quic.Stream's Close): the
//     peer reads the data, then io.EOF. Reading goes on.
//   - Close closes both: FIN for the data written, and STOP_SENDING
//     (CancelRead with CodeCancel) so the peer's further writes fail
//     instead of filling a window nobody reads. Pending Reads and Writes
//     return, and later calls fail with net.ErrClosed.
type Stream struct {
	s      *quic.Stream
	conn   *quic.Conn
	digest *vstream.Digest

	// wmu serializes Write with the quic.Stream's Close, which must not
	// run concurrently with Write.
	wmu       sync.Mutex
	closed    atomic.Bool
	closeOnce sync.Once
	wclosed   bool   // the send direction is closed; under wmu
	onClose   func() // set by Serve before delivery: counts open streams
}

// New wraps s, a stream of conn. Its Digest is built from conn's
// addresses and TLS state, with AcceptTime now. quic-go does not say when
// a connection's handshake completed, so New leaves the Digest's
// HandshakeTime zero; Serve fills it in (see there), and a caller that
// knows it may set it.
func New(conn *quic.Conn, s *quic.Stream) *Stream {
	d := &vstream.Digest{
		AcceptTime: time.Now(),
		LocalAddr:  conn.LocalAddr(),
		RemoteAddr: conn.RemoteAddr(),
		ClientAddr: conn.RemoteAddr(),
	}
	if cs := conn.ConnectionState().TLS; cs.HandshakeComplete {
		d.TLS = &cs
	}
	return &Stream{s: s, conn: conn, digest: d}
}

// QUIC returns the stream underneath, for what Stream does not cover
// (priorities, stream ids, CancelWrite with a code).
func (st *Stream) QUIC() *quic.Stream { return st.s }

// Conn returns the stream's connection.
func (st *Stream) Conn() *quic.Conn { return st.conn }

// Digest returns the stream's metadata.
func (st *Stream) Digest() *vstream.Digest { return st.digest }

func (st *Stream) opError(op string, err error) error {
	return &net.OpError{Op: op, Net: "quic", Source: st.LocalAddr(), Addr: st.RemoteAddr(), Err: err}
}

// Read reads from the stream; io.EOF after the peer's FIN.
func (st *Stream) Read(p []byte) (int, error) {
	if st.closed.Load() {
		return 0, st.opError("read", net.ErrClosed)
	}
	n, err := st.s.Read(p)
	if err != nil && st.closed.Load() {
		err = st.opError("read", net.ErrClosed)
	}
	return n, err
}

// Write writes to the stream.
func (st *Stream) Write(p []byte) (int, error) {
	st.wmu.Lock()
	defer st.wmu.Unlock()
	if st.closed.Load() {
		return 0, st.opError("write", net.ErrClosed)
	}
	n, err := st.s.Write(p)
	if err != nil && st.closed.Load() {
		err = st.opError("write", net.ErrClosed)
	}
	return n, err
}

// CloseWrite closes the send direction: the peer reads io.EOF after the
// data. It waits for a Write in progress to return.
func (st *Stream) CloseWrite() error {
	if st.closed.Load() {
		return st.opError("close", net.ErrClosed)
	}
	st.wmu.Lock()
	defer st.wmu.Unlock()
	if st.wclosed {
		return nil
	}
	st.wclosed = true
	return st.s.Close()
}

// Close closes both directions; see Stream. A second Close fails with
// net.ErrClosed.
func (st *Stream) Close() error {
	first := false
	st.closeOnce.Do(func() {
		first = true
		st.closed.Store(true)
		// Unblock a pending Write, then close the send direction
		// once it has returned.
		st.s.SetWriteDeadline(time.Unix(1, 0))
		st.s.CancelRead(CodeCancel) // unblocks a pending Read
		st.wmu.Lock()
		if !st.wclosed {
			st.wclosed = true
			st.s.Close()
		}
		st.wmu.Unlock()
		st.s.ReleaseStreamCredit()
		if st.onClose != nil {
			st.onClose()
		}
	})
	if !first {
		return st.opError("close", net.ErrClosed)
	}
	return nil
}

// LocalAddr returns the connection's local address.
func (st *Stream) LocalAddr() net.Addr { return st.conn.LocalAddr() }

// RemoteAddr returns the connection's remote address.
func (st *Stream) RemoteAddr() net.Addr { return st.conn.RemoteAddr() }

// SetDeadline sets the read and write deadlines.
func (st *Stream) SetDeadline(t time.Time) error { return st.s.SetDeadline(t) }

// SetReadDeadline sets the read deadline.
func (st *Stream) SetReadDeadline(t time.Time) error { return st.s.SetReadDeadline(t) }

// SetWriteDeadline sets the write deadline.
func (st *Stream) SetWriteDeadline(t time.Time) error { return st.s.SetWriteDeadline(t) }

var (
	_ vstream.Stream   = (*Stream)(nil)
	_ vstream.Digester = (*Stream)(nil)
)
