package httpproxy

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	xh2 "golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/sluice-proxy/sluice/protocols/http2"
	"github.com/sluice-proxy/sluice/vstream"
)

// An HTTP/2 stream runs the same pipeline as an HTTP/1.1 request: the
// stream is presented to an h1conn as a connection carrying one request,
// its head written out as HTTP/1.1 (so the same strict parser, limits and
// phases apply) and its body as it comes (chunked when it has no
// content-length); what the pipeline writes back, an HTTP/1.1 response,
// is read as it is written and sent as HEADERS, DATA and trailers. One
// request per stream; no goroutine beyond the stream's own.

// ServeH2 serves HTTP/2 on c (after its preface, which it reads): every
// stream goes through the Proxy's phases as a request. d describes the
// connection; streams share it.
func (s *Service) ServeH2(ctx context.Context, c net.Conn, d *vstream.Digest) error {
	stop := context.AfterFunc(ctx, func() { c.Close() }) // Shutdown out of time
	defer stop()
	if s.m != nil {
		s.m.connOpened()
		defer s.m.connClosed()
	}
	lim := s.cfg.HTTP2
	if lim.IdleTimeout == 0 {
		// An idle HTTP/2 connection is bounded as an HTTP/1.1 one (none
		// when Timeouts.Idle is off).
		lim.IdleTimeout = s.to.Idle
		if lim.IdleTimeout == 0 {
			lim.IdleTimeout = -1
		}
	}
	lim.ExtendedConnect = true // WebSocket over HTTP/2
	return http2.ServeDrain(c, lim, func(st *http2.Stream) {
		sc := newStreamConn(st, d)
		if err := sc.writeRequestHead(); err != nil {
			st.WriteHeader(501, nil, true) // a CONNECT this proxy does not carry
			return
		}
		s.serveConn(ctx, sc, d)
	}, s.drain)
}

// serveAccepted serves a connection the shell admitted: HTTP/2 when TLS
// chose it by ALPN, or, with H2C, when it starts with the preface;
// HTTP/1.x otherwise.
func (s *Service) serveAccepted(ctx context.Context, c net.Conn, d *vstream.Digest) {
	if tc, ok := c.(*tls.Conn); ok && tc.ConnectionState().NegotiatedProtocol == "h2" {
		s.ServeH2(ctx, c, d)
		return
	}
	if s.cfg.H2C {
		isH2, raw, err := sniffH2(c, s.to.HeaderRead)
		if err != nil && len(raw) == 0 {
			c.Close()
			return
		}
		c = vstream.WithPrefix(c, raw)
		if isH2 || s.cfg.H2COnly {
			// With H2COnly an invalid preface is the HTTP/2 server's to
			// refuse (RFC 9113 3.4: the connection ends, cleanly).
			s.ServeH2(ctx, c, d)
			return
		}
	}
	s.serveConn(ctx, c, d)
}

// h2Preface is the start of the HTTP/2 client preface.
const h2Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

// sniffH2 reads from c until its first bytes are, or cannot be, the
// HTTP/2 preface, and returns them for replay.
func sniffH2(c net.Conn, timeout time.Duration) (bool, []byte, error) {
	if timeout > 0 {
		c.SetReadDeadline(time.Now().Add(timeout))
		defer c.SetReadDeadline(time.Time{})
	}
	buf := make([]byte, 0, len(h2Preface))
	for len(buf) < len(h2Preface) {
		n, err := c.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if !strings.HasPrefix(h2Preface, string(buf)) {
			return false, buf, nil
		}
		if err != nil {
			return false, buf, err
		}
	}
	return true, buf, nil
}

// streamConn is an HTTP/2 stream as the pipeline's client connection.
type streamConn struct {
	st *http2.Stream
	d  *vstream.Digest

	mu       sync.Mutex
	in       bytes.Buffer // the request head, then body bytes (chunk-framed)
	chunked  bool         // the body has no content-length: framed as chunks
	bodyEOF  atomic.Bool  // the stream's body has ended (and been framed)
	raw      atomic.Bool  // the stream carries a tunnel (after a WebSocket's 101)
	ended    atomic.Bool  // the response was ended (finish) or the stream reset
	headDone bool
	scratch  []byte // a chunked body's read buffer, kept across reads
	wsKey    string // the key sent upstream for a WebSocket (extended CONNECT)
	connect  bool   // a CONNECT: a 2xx makes the stream a tunnel

	out respParser // what the pipeline writes, parsed as it comes
}

func newStreamConn(st *http2.Stream, d *vstream.Digest) *streamConn {
	sc := &streamConn{st: st, d: d}
	sc.out.sc = sc
	return sc
}

// writeRequestHead writes the stream's request as an HTTP/1.1 head.
func (sc *streamConn) writeRequestHead() error {
	st := sc.st
	b := &sc.in
	if st.Method == "CONNECT" && st.Protocol == "" {
		// RFC 9113 8.5: the stream becomes a tunnel to :authority once a
		// 2xx answers; to the pipeline it is an HTTP/1.1 CONNECT.
		sc.connect = true
		b.WriteString("CONNECT ")
		b.WriteString(st.Authority)
		b.WriteString(" HTTP/1.1\r\nHost: ")
		b.WriteString(st.Authority)
		b.WriteString("\r\n")
		for _, f := range st.Header {
			if f.Name == "host" || f.Name == "content-length" {
				continue
			}
			b.WriteString(f.Name)
			b.WriteString(": ")
			b.WriteString(f.Value)
			b.WriteString("\r\n")
		}
		b.WriteString("\r\n")
		return nil
	}
	if st.Method == "CONNECT" {
		if st.Protocol != "websocket" {
			return fmt.Errorf("extended CONNECT for %q is not carried", st.Protocol)
		}
		// RFC 8441: the stream carries a WebSocket; to an HTTP/1.1
		// pipeline it is an upgrade, with a key of the proxy's own.
		sc.wsKey = newWebSocketKey()
		b.WriteString("GET ")
		b.WriteString(st.Path)
		b.WriteString(" HTTP/1.1\r\nHost: ")
		b.WriteString(st.Authority)
		b.WriteString("\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: ")
		b.WriteString(sc.wsKey)
		b.WriteString("\r\n")
		for _, f := range st.Header {
			if f.Name == "host" || f.Name == "content-length" || f.Name == "sec-websocket-key" {
				continue
			}
			b.WriteString(f.Name)
			b.WriteString(": ")
			b.WriteString(f.Value)
			b.WriteString("\r\n")
		}
		b.WriteString("\r\n")
		return nil
	}
	b.WriteString(st.Method)
	b.WriteByte(' ')
	b.WriteString(st.Path)
	b.WriteString(" HTTP/1.1\r\nHost: ")
	b.WriteString(st.Authority)
	b.WriteString("\r\n")
	var cookies []string
	hasLength := false
	for _, f := range st.Header {
		switch f.Name {
		case "host":
			continue // :authority wins
		case "cookie":
			cookies = append(cookies, f.Value) // RFC 9113 8.2.3: joined for HTTP/1.1
			continue
		case "content-length":
			hasLength = true
		}
		b.WriteString(f.Name)
		b.WriteString(": ")
		b.WriteString(f.Value)
		b.WriteString("\r\n")
	}
	if len(cookies) > 0 {
		b.WriteString("cookie: ")
		b.WriteString(strings.Join(cookies, "; "))
		b.WriteString("\r\n")
	}
	if !hasLength {
		// A body already here whole (a small one comes with END_STREAM
		// before the stream is served) gets its length; one still coming,
		// or ended by trailers, is chunked.
		switch n, trailers, ended := st.EndedBody(); {
		case ended && !trailers && n > 0:
			b.WriteString("content-length: ")
			b.WriteString(strconv.Itoa(n))
			b.WriteString("\r\n")
		case !ended || trailers:
			sc.chunked = true
			b.WriteString("transfer-encoding: chunked\r\n")
		}
	}
	b.WriteString("\r\n")
	return nil
}

// Read returns the request head, then the body as it comes.
func (sc *streamConn) Read(p []byte) (int, error) {
	if sc.in.Len() == 0 {
		if sc.bodyEOF.Load() {
			return 0, io.EOF // one request per stream
		}
		if !sc.chunked { // a content-length body reads straight into p
			n, err := sc.st.Body.Read(p)
			if err == io.EOF {
				sc.bodyEOF.Store(true)
				if n > 0 {
					err = nil
				}
			}
			return n, err
		}
		if err := sc.fill(len(p)); err != nil {
			return 0, err
		}
	}
	return sc.in.Read(p)
}

// fill reads the next body bytes from the stream into sc.in, framed as
// a chunk (at most max of them).
func (sc *streamConn) fill(max int) error {
	if sc.scratch == nil {
		sc.scratch = make([]byte, 32<<10)
	}
	buf := sc.scratch[:min(max, len(sc.scratch))]
	n, err := sc.st.Body.Read(buf)
	if n > 0 {
		sc.in.WriteString(strconv.FormatInt(int64(n), 16))
		sc.in.WriteString("\r\n")
		sc.in.Write(buf[:n])
		sc.in.WriteString("\r\n")
	}
	if err == io.EOF {
		sc.bodyEOF.Store(true)
		sc.in.WriteString("0\r\n")
		for _, f := range sc.st.Trailer() {
			sc.in.WriteString(f.Name + ": " + f.Value + "\r\n")
		}
		sc.in.WriteString("\r\n")
		return nil
	}
	return err
}

// Write takes what the pipeline sends the client: an HTTP/1.1 response.
func (sc *streamConn) Write(p []byte) (int, error) {
	if err := sc.out.write(p); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Close ends the stream: a response not finished is reset.
func (sc *streamConn) Close() error {
	switch {
	case sc.raw.Load() && sc.bodyEOF.Load():
		// A tunnel the client had ended: the relay closes both sides
		// once both are over, so the stream ends cleanly too.
		sc.out.finish(nil)
	case sc.ended.CompareAndSwap(false, true):
		sc.st.Reset(xh2.ErrCodeInternal)
	}
	return nil
}

// CloseWrite ends a tunnel's response side (END_STREAM); the pipeline
// half-closes nothing else.
func (sc *streamConn) CloseWrite() error {
	if sc.raw.Load() {
		sc.out.finish(nil)
	}
	return nil
}

func (sc *streamConn) LocalAddr() net.Addr  { return sc.d.LocalAddr }
func (sc *streamConn) RemoteAddr() net.Addr { return sc.d.RemoteAddr }

// SetDeadline sets both deadlines.
func (sc *streamConn) SetDeadline(t time.Time) error {
	sc.st.SetReadDeadline(t)
	sc.st.SetWriteDeadline(t)
	return nil
}

// SetReadDeadline bounds the waits for the request body (body_read).
func (sc *streamConn) SetReadDeadline(t time.Time) error {
	sc.st.SetReadDeadline(t)
	return nil
}

// SetWriteDeadline bounds the waits for the client's flow-control window
// (write).
func (sc *streamConn) SetWriteDeadline(t time.Time) error {
	sc.st.SetWriteDeadline(t)
	return nil
}

// Digest gives the stream the connection's Digest (a vstream.Digester).
func (sc *streamConn) Digest() *vstream.Digest { return sc.d }

var (
	_ vstream.Stream   = (*streamConn)(nil)
	_ vstream.Digester = (*streamConn)(nil)
)

// respParser reads an HTTP/1.1 response as the pipeline writes it (its own
// well-formed output) and sends it on the stream.
type respParser struct {
	sc       *streamConn
	buf      []byte
	state    int   // pHead, pLength, pChunked, pDone
	left     int64 // length body: bytes to come; chunked: of the chunk, or a sentinel below
	needMore bool  // the chunked parser waits for more bytes
}

// Chunked-body positions when left is not a byte count.
const (
	chunkSize     = -1 // at a chunk-size line
	chunkTrailers = -2 // after the last chunk: trailers, then CRLF
	chunkCRLF     = -3 // after a chunk's data: its CRLF
)

const (
	pHead = iota
	pLength
	pChunked
	pRaw // a tunnel's bytes, after a WebSocket's 101
	pDone
)

func (r *respParser) write(p []byte) error {
	if r.state == pRaw {
		_, err := r.sc.st.Write(p)
		return err
	}
	if r.state == pHead && len(r.buf) == 0 {
		// The head (and usually the whole response) in one write: parsed
		// from p itself, without a copy into r.buf.
		if i := bytes.Index(p, []byte("\r\n\r\n")); i >= 0 {
			if err := r.head(p[:i+2]); err != nil {
				return err
			}
			if rest := p[i+4:]; len(rest) > 0 {
				return r.write(rest)
			}
			return nil
		}
	}
	if r.state == pLength && len(r.buf) == 0 {
		// The body as the pipeline writes it: Stream.Write copies what
		// it queues, so p goes out without a copy into r.buf first.
		n := min(int64(len(p)), r.left)
		if _, err := r.sc.st.Write(p[:n]); err != nil {
			return err
		}
		if r.left -= n; r.left == 0 {
			r.finish(nil)
		}
		return nil
	}
	r.buf = append(r.buf, p...)
	for len(r.buf) > 0 {
		switch r.state {
		case pHead:
			i := bytes.Index(r.buf, []byte("\r\n\r\n"))
			if i < 0 {
				return nil
			}
			head := r.buf[:i+2]
			r.buf = r.buf[i+4:]
			if err := r.head(head); err != nil {
				return err
			}
			if r.state == pRaw && len(r.buf) > 0 {
				_, err := r.sc.st.Write(r.buf)
				r.buf = r.buf[:0]
				return err
			}
		case pLength:
			n := min(int64(len(r.buf)), r.left)
			if _, err := r.sc.st.Write(r.buf[:n]); err != nil {
				return err
			}
			r.buf, r.left = r.buf[n:], r.left-n
			if r.left == 0 {
				r.finish(nil)
			}
		case pChunked:
			if err := r.chunk(); err != nil {
				return err
			}
			if r.needMore {
				r.needMore = false
				return nil
			}
		case pDone:
			r.buf = r.buf[:0]
			return nil
		}
	}
	return nil
}

// head parses the status line and fields and sends HEADERS.
func (r *respParser) head(head []byte) error {
	lines := strings.Split(strings.TrimSuffix(string(head), "\r\n"), "\r\n")
	parts := strings.SplitN(lines[0], " ", 3)
	if len(parts) < 2 {
		return errors.New("httpproxy: h2: bad status line")
	}
	status, err := strconv.Atoi(parts[1])
	if err != nil {
		return err
	}
	var fields []hpack.HeaderField
	length, chunked := int64(-1), false
	for _, l := range lines[1:] {
		name, value, ok := strings.Cut(l, ":")
		if !ok {
			continue
		}
		name, value = strings.ToLower(strings.TrimSpace(name)), strings.TrimSpace(value)
		switch name {
		case "connection", "keep-alive", "proxy-connection", "upgrade":
			continue
		case "transfer-encoding":
			chunked = true
			continue
		case "content-length":
			length, _ = strconv.ParseInt(value, 10, 64)
		}
		fields = append(fields, hpack.HeaderField{Name: name, Value: value})
	}
	if status == 101 && r.sc.wsKey != "" {
		return r.upgraded(fields)
	}
	if r.sc.connect && status >= 200 && status < 300 {
		// The tunnel is open: HEADERS without END_STREAM, then its bytes.
		out := fields[:0]
		for _, f := range fields {
			if f.Name != "content-length" {
				out = append(out, f)
			}
		}
		if err := r.sc.st.WriteHeader(status, out, false); err != nil {
			return err
		}
		r.state = pRaw
		r.sc.raw.Store(true)
		return nil
	}
	if status < 200 {
		return r.sc.st.WriteInterim(status, fields)
	}
	noBody := r.sc.st.Method == "HEAD" || status == 204 || status == 304 || (!chunked && length <= 0)
	if err := r.sc.st.WriteHeader(status, fields, noBody); err != nil {
		return err
	}
	switch {
	case noBody:
		r.state = pDone
		r.sc.ended.Store(true)
	case chunked:
		r.state, r.left = pChunked, -1
	default:
		r.state, r.left = pLength, length
	}
	return nil
}

// chunk consumes what it can of a chunked body.
func (r *respParser) chunk() error {
	switch {
	case r.left == chunkSize:
		i := bytes.Index(r.buf, []byte("\r\n"))
		if i < 0 {
			r.needMore = true
			return nil
		}
		line := string(r.buf[:i])
		if j := strings.IndexByte(line, ';'); j >= 0 {
			line = line[:j]
		}
		n, err := strconv.ParseInt(strings.TrimSpace(line), 16, 64)
		if err != nil || n < 0 {
			return errors.New("httpproxy: h2: bad chunk size")
		}
		r.buf = r.buf[i+2:]
		if n == 0 {
			r.left = chunkTrailers
		} else {
			r.left = n
		}
	case r.left == chunkTrailers:
		if bytes.HasPrefix(r.buf, []byte("\r\n")) {
			r.buf = r.buf[2:]
			r.finish(nil)
			return nil
		}
		i := bytes.Index(r.buf, []byte("\r\n\r\n"))
		if i < 0 {
			r.needMore = true
			return nil
		}
		var tr []hpack.HeaderField
		for _, l := range strings.Split(string(r.buf[:i]), "\r\n") {
			if name, value, ok := strings.Cut(l, ":"); ok {
				tr = append(tr, hpack.HeaderField{Name: strings.ToLower(strings.TrimSpace(name)), Value: strings.TrimSpace(value)})
			}
		}
		r.buf = r.buf[i+4:]
		r.finish(tr)
	case r.left == chunkCRLF:
		if len(r.buf) < 2 {
			r.needMore = true
			return nil
		}
		r.buf = r.buf[2:]
		r.left = chunkSize
	default:
		n := min(int64(len(r.buf)), r.left)
		if _, err := r.sc.st.Write(r.buf[:n]); err != nil {
			return err
		}
		r.buf, r.left = r.buf[n:], r.left-n
		if r.left == 0 {
			r.left = chunkCRLF
		}
	}
	return nil
}

// finish ends the response on the stream, once (a tunnel's is ended from
// the relay's goroutines).
func (r *respParser) finish(trailers []hpack.HeaderField) {
	if r.sc.ended.CompareAndSwap(false, true) {
		r.sc.st.Close(trailers)
	}
	if !r.sc.raw.Load() {
		r.state = pDone
	}
}

// upgraded answers an extended CONNECT whose upstream switched to
// WebSocket: 200 on the stream (without the HTTP/1.1 handshake's fields),
// once the upstream's Sec-WebSocket-Accept matches the key sent; then the
// stream carries the tunnel's bytes.
func (r *respParser) upgraded(fields []hpack.HeaderField) error {
	out := fields[:0]
	accept := ""
	for _, f := range fields {
		if f.Name == "sec-websocket-accept" {
			accept = f.Value
			continue
		}
		out = append(out, f)
	}
	if accept != webSocketAccept(r.sc.wsKey) {
		return errors.New("httpproxy: h2: the upstream's Sec-WebSocket-Accept does not match the key")
	}
	if err := r.sc.st.WriteHeader(200, out, false); err != nil {
		return err
	}
	r.state = pRaw
	r.sc.raw.Store(true)
	return nil
}
