package proxyproto

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"time"

	pp "github.com/pires/go-proxyproto"
)

// Defaults for the zero fields of an [Acceptor].
const (
	// DefaultHeaderTimeout bounds the header read when
	// Acceptor.HeaderTimeout is zero.
	DefaultHeaderTimeout = 5 * time.Second
	// DefaultMaxHeaderBytes caps a v2 header (16-byte prefix, addresses and
	// TLVs) when Acceptor.MaxHeaderBytes is zero.
	DefaultMaxHeaderBytes = 4096
)

const (
	// readerSize is the header read buffer. It holds a whole v1 line
	// (at most v1MaxLen bytes) and the v2 prefix; larger v2 headers stream
	// through it. Bytes it reads past the header go to the Conn.
	readerSize = 256
	// v1MaxLen is the longest v1 line the spec allows, CRLF included.
	v1MaxLen = 107
	// v2PrefixLen is the v2 signature, command, family and length.
	v2PrefixLen = 16
)

// Acceptor reads PROXY headers on connections from trusted load balancers. Its
// fields are set once; after that it is safe for concurrent use.
//
// A listener that expects PROXY headers checks every peer with
// [Acceptor.Trusts] before reading anything and closes the untrusted ones;
// from a trusted peer the header is required ([Acceptor.Accept] never guesses
// whether one is present).
type Acceptor struct {
	// Trusted lists the peers allowed to send PROXY headers. IPv4-mapped
	// IPv6 prefixes (::ffff:10.0.0.0/104) match plain IPv4 peers too.
	Trusted []netip.Prefix
	// HeaderTimeout bounds the header read; DefaultHeaderTimeout when zero
	// or negative. The read deadline is cleared once the header is read.
	HeaderTimeout time.Duration
	// MaxHeaderBytes caps a v2 header, its 16-byte prefix included;
	// DefaultMaxHeaderBytes when zero or negative. Larger headers are
	// rejected with ErrInvalidHeader before their payload is read. A v1 line
	// is always limited to the spec's 107 bytes. go-proxyproto separately
	// refuses v2 payloads above its MaxV2HeaderSize (4096 by default), so a
	// cap above 16+MaxV2HeaderSize takes effect only if the program raises
	// that variable at init.
	MaxHeaderBytes int
}

// Trusts reports whether peer may send PROXY headers: whether one of the
// Trusted prefixes contains it. IPv4-mapped IPv6 addresses are unmapped and a
// zone is ignored.
func (a *Acceptor) Trusts(peer netip.Addr) bool {
	peer = peer.Unmap().WithZone("")
	for _, p := range a.Trusted {
		if p.Addr().Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		if p.Contains(peer) {
			return true
		}
	}
	return false
}

// Accept reads exactly one PROXY v1 or v2 header from c, under a read
// deadline of HeaderTimeout, and returns c wrapped in a Conn that first
// replays the bytes read past the header. The caller has already checked the
// peer with Trusts.
//
// A v2 LOCAL command or a v1 UNKNOWN line is accepted with Header.Local set:
// the Conn keeps c's addresses. Headers split across several TCP segments are
// accepted as long as they complete before the deadline.
//
// Errors match, with errors.Is:
//   - ErrNoHeader: the first bytes are not a PROXY signature;
//   - ErrInvalidHeader: a malformed, unsupported or too large header
//     (wrapping go-proxyproto's error where it found the fault);
//   - ErrTimeout and os.ErrDeadlineExceeded: the header did not complete in
//     time, however many bytes of it arrived;
//   - io.EOF: the peer closed without sending a byte;
//   - io.ErrUnexpectedEOF: the peer closed in the middle of a header.
//
// Other read errors are returned wrapped. On error Accept does not close c.
func (a *Acceptor) Accept(c net.Conn) (*Conn, *Header, error) {
	timeout := a.HeaderTimeout
	if timeout <= 0 {
		timeout = DefaultHeaderTimeout
	}
	if err := c.SetReadDeadline(time.Now().Add(timeout)); err != nil {
		return nil, nil, fmt.Errorf("proxyproto: setting the header deadline: %w", err)
	}
	rec := &errRecorder{r: c}
	br := bufio.NewReaderSize(rec, readerSize)
	h, err := a.readHeader(br, rec)
	if derr := c.SetReadDeadline(time.Time{}); derr != nil && err == nil {
		err = fmt.Errorf("proxyproto: clearing the header deadline: %w", derr)
	}
	if err != nil {
		return nil, nil, err
	}
	return newConn(c, h, br), h, nil
}

// readHeader frames the header in br, then lets go-proxyproto parse it.
func (a *Acceptor) readHeader(br *bufio.Reader, rec *errRecorder) (*Header, error) {
	if err := frame(br, a.maxHeaderBytes()); err != nil {
		return nil, err
	}
	ph, err := pp.Read(br)
	if err != nil {
		if rec.err != nil && (errors.Is(err, rec.err) || isEOF(err) || isTimeout(err)) {
			return nil, readError(err, true)
		}
		return nil, fmt.Errorf("%w: %w", ErrInvalidHeader, err)
	}
	return newHeader(ph)
}

// maxHeaderBytes is the effective v2 cap: MaxHeaderBytes or its default,
// and never more than go-proxyproto will parse.
func (a *Acceptor) maxHeaderBytes() int {
	n := a.MaxHeaderBytes
	if n <= 0 {
		n = DefaultMaxHeaderBytes
	}
	return min(n, v2PrefixLen+int(pp.MaxV2HeaderSize))
}

// frame reads until br holds a complete v1 line, or a v2 prefix whose length
// is within limit, so the parser never waits on a partial v1 line (which
// go-proxyproto would reject rather than wait for) and never starts on a v2
// header larger than the cap. It returns ErrNoHeader as soon as the bytes
// buffered cannot start a PROXY signature.
func frame(br *bufio.Reader, limit int) error {
	for n := 1; ; {
		if b, err := br.Peek(n); err != nil {
			return readError(err, len(b) > 0)
		}
		b, _ := br.Peek(br.Buffered())
		done, err := scan(b, limit)
		if err != nil || done {
			return err
		}
		n = len(b) + 1
	}
}

// scan inspects the first bytes of a connection. It reports done when b
// holds a whole v1 line or a whole v2 prefix, and an error when b cannot be
// (the start of) an acceptable header.
func scan(b []byte, limit int) (done bool, err error) {
	switch {
	case isPartial(b, pp.SIGV1) || isPartial(b, pp.SIGV2):
		return false, nil // the start of a signature: need more
	case bytes.HasPrefix(b, pp.SIGV1):
		line := b[:min(len(b), v1MaxLen)]
		if bytes.IndexByte(line, '\n') >= 0 {
			return true, nil
		}
		if len(line) == v1MaxLen {
			return false, fmt.Errorf("%w: %w", ErrInvalidHeader, pp.ErrVersion1HeaderTooLong)
		}
		return false, nil
	case bytes.HasPrefix(b, pp.SIGV2):
		if len(b) < v2PrefixLen {
			return false, nil
		}
		total := v2PrefixLen + int(binary.BigEndian.Uint16(b[14:16]))
		if total > limit {
			return false, fmt.Errorf("%w: v2 header of %d bytes is too large (limit %d)", ErrInvalidHeader, total, limit)
		}
		return true, nil
	}
	return false, fmt.Errorf("%w: first bytes %q", ErrNoHeader, b[:min(len(b), 16)])
}

// isPartial reports whether b is a proper prefix of sig.
func isPartial(b, sig []byte) bool {
	return len(b) < len(sig) && bytes.HasPrefix(sig, b)
}

// readError classifies a read failure during the header; started tells
// whether any byte of it had arrived.
func readError(err error, started bool) error {
	switch {
	case isTimeout(err):
		return fmt.Errorf("%w: %w", ErrTimeout, err)
	case isEOF(err) && !started:
		return fmt.Errorf("proxyproto: connection closed before the PROXY header: %w", io.EOF)
	case isEOF(err):
		return fmt.Errorf("proxyproto: connection closed inside the PROXY header: %w", io.ErrUnexpectedEOF)
	}
	return fmt.Errorf("proxyproto: reading the PROXY header: %w", err)
}

func isEOF(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}

func isTimeout(err error) bool {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// errRecorder remembers the last error the connection returned, so a parse
// error caused by a failed read is reported as the read failure it is.
type errRecorder struct {
	r   io.Reader
	err error
}

func (e *errRecorder) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil {
		e.err = err
	}
	return n, err
}
