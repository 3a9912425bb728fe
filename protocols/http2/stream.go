package http2

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"sync"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// Stream is one request and its response. The request's fields are read
// when the Handler starts; the body streams under flow control.
type Stream struct {
	// ID is the stream's identifier.
	ID uint32
	// Method, Scheme, Authority and Path are the request's pseudo-header
	// fields (":protocol" goes to Protocol for extended CONNECT).
	Method, Scheme, Authority, Path, Protocol string
	// Header lists the request's regular fields, lower-case, in order.
	Header []hpack.HeaderField
	// Body is the request body; it ends (io.EOF) with the client's
	// END_STREAM, or fails when the stream is reset.
	Body io.Reader

	cn   *conn
	body *body

	// wdeadline bounds Write's waits for flow-control window (zero: none);
	// wtimer wakes them when it passes. Guarded by cn.mu.
	wdeadline time.Time
	wtimer    *time.Timer

	// Guarded by cn.mu.
	sendWin     int64
	recvWin     int64
	reset       bool
	headersSent bool
	ended       bool // END_STREAM sent
}

func newStream(cn *conn, id uint32, f *http2.MetaHeadersFrame) *Stream {
	st := &Stream{ID: id, cn: cn, sendWin: int64(cn.peerWin), recvWin: int64(cn.lim.StreamWindow)}
	for _, hf := range f.PseudoFields() {
		switch hf.Name {
		case ":method":
			st.Method = hf.Value
		case ":scheme":
			st.Scheme = hf.Value
		case ":authority":
			st.Authority = hf.Value
		case ":path":
			st.Path = hf.Value
		case ":protocol":
			st.Protocol = hf.Value
		}
	}
	st.Header = f.RegularFields()
	st.body = &body{st: st, length: -1}
	for _, hf := range st.Header {
		if hf.Name == "content-length" {
			if n, err := strconv.ParseInt(hf.Value, 10, 64); err == nil && n >= 0 {
				st.body.length = n
			}
		}
	}
	st.body.cond = sync.NewCond(&st.body.mu)
	st.Body = st.body
	if f.StreamEnded() {
		st.body.eof = true
	}
	return st
}

// checkLength reports whether the body so far matches content-length, at
// the end of the stream.
func (b *body) checkLength() bool {
	return b.length < 0 || b.received == b.length
}

// count adds n received bytes (cn.mu held) and reports whether they fit
// the declared content-length (all of it at the end).
func (b *body) count(n int, end bool) bool {
	b.received += int64(n)
	if b.length < 0 {
		return true
	}
	return b.received <= b.length && (!end || b.received == b.length)
}

// connectionHeaders are the fields RFC 9113 8.2.2 forbids.
var connectionHeaders = map[string]bool{
	"connection": true, "keep-alive": true, "proxy-connection": true, "transfer-encoding": true, "upgrade": true,
}

// validate applies RFC 9113 8.3.1 to the request head, and RFC 8441 4 to
// an extended CONNECT (allowed when extended).
func (st *Stream) validate(extended bool) error {
	switch {
	case st.Method == "":
		return errors.New("no :method")
	case st.Protocol != "":
		if !extended || st.Method != "CONNECT" {
			return errors.New(":protocol without extended CONNECT")
		}
		if st.Scheme == "" || st.Path == "" || st.Authority == "" {
			return errors.New("extended CONNECT needs :scheme, :path and :authority")
		}
	case st.Method == "CONNECT":
		if st.Scheme != "" || st.Path != "" || st.Authority == "" {
			return errors.New("CONNECT needs :authority only")
		}
	case st.Scheme == "" || st.Path == "":
		return errors.New("no :scheme or :path")
	}
	for _, hf := range st.Header {
		if hasUpper(hf.Name) || connectionHeaders[hf.Name] || (hf.Name == "te" && hf.Value != "trailers") {
			return fmt.Errorf("field %q is not allowed in HTTP/2", hf.Name)
		}
	}
	return nil
}

// BodyEnded reports whether the client has ended its side already (no
// request body, or all of it received).
func (st *Stream) BodyEnded() bool { return st.body.ended() }

// EndedBody reports, when the client has already ended its side cleanly,
// the length of the whole request body (none of it read yet) and whether
// trailers ended it; ended is false while the body may still grow.
func (st *Stream) EndedBody() (n int, trailers, ended bool) {
	b := st.body
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.eof || b.err != nil {
		return 0, false, false
	}
	return len(b.buf), b.trailer != nil, true
}

// WriteInterim sends a 1xx response (100 Continue, 103 Early Hints) ahead
// of the final one.
func (st *Stream) WriteInterim(status int, fields []hpack.HeaderField) error {
	if status < 100 || status > 199 {
		return errors.New("http2: WriteInterim needs a 1xx status")
	}
	cn := st.cn
	cn.mu.Lock()
	if st.reset || st.headersSent {
		cn.mu.Unlock()
		return errStreamReset
	}
	cn.mu.Unlock()
	all := append([]hpack.HeaderField{{Name: ":status", Value: strconv.Itoa(status)}}, fields...)
	return st.writeHeaders(all, false)
}

// Trailer returns the request's trailer fields, once Body has ended.
func (st *Stream) Trailer() []hpack.HeaderField {
	st.body.mu.Lock()
	defer st.body.mu.Unlock()
	return st.body.trailer
}

// WriteHeader sends the response head: status and fields (lower-case,
// without connection-specific ones). endStream ends the response with it.
func (st *Stream) WriteHeader(status int, fields []hpack.HeaderField, endStream bool) error {
	cn := st.cn
	cn.mu.Lock()
	if st.reset || st.headersSent {
		cn.mu.Unlock()
		if st.headersSent {
			return errors.New("http2: response head already sent")
		}
		return errStreamReset
	}
	st.headersSent = true
	st.ended = endStream
	cn.mu.Unlock()
	all := make([]hpack.HeaderField, 0, len(fields)+1)
	all = append(all, hpack.HeaderField{Name: ":status", Value: strconv.Itoa(status)})
	all = append(all, fields...)
	return st.writeHeaders(all, endStream)
}

// writeHeaders queues a HEADERS (+CONTINUATION) frame of fields.
func (st *Stream) writeHeaders(fields []hpack.HeaderField, endStream bool) error {
	id := st.ID
	max := int(st.cn.peerMaxFrame()) // read here: the writer never takes cn.mu
	ok := st.cn.queue(func(w *writer) error {
		w.buf.Reset()
		for _, f := range fields {
			if err := w.enc.WriteField(f); err != nil {
				return err
			}
		}
		block := w.buf.Bytes()
		first := true
		for first || len(block) > 0 {
			n := min(len(block), max)
			frag := block[:n]
			block = block[n:]
			var err error
			if first {
				err = w.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: frag, EndStream: endStream, EndHeaders: len(block) == 0})
				first = false
			} else {
				err = w.fr.WriteContinuation(id, len(block) == 0, frag)
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
	if !ok {
		return errConnClosed
	}
	if endStream {
		st.maybeDone()
	}
	return nil
}

var errStreamReset = errors.New("http2: stream reset")

// Write sends p as the response body (DATA frames), waiting for the
// client's flow-control windows.
func (st *Stream) Write(p []byte) (int, error) {
	cn := st.cn
	written := 0
	for len(p) > 0 {
		cn.mu.Lock()
		for !st.reset && !cn.closed && (cn.sendWin <= 0 || st.sendWin <= 0) {
			if !st.wdeadline.IsZero() && !time.Now().Before(st.wdeadline) {
				cn.mu.Unlock()
				return written, os.ErrDeadlineExceeded
			}
			cn.cond.Wait()
		}
		if st.reset || cn.closed || st.ended {
			cn.mu.Unlock()
			if st.ended {
				return written, errors.New("http2: write after the response ended")
			}
			return written, errStreamReset
		}
		if !st.headersSent {
			cn.mu.Unlock()
			return written, errors.New("http2: body before the response head")
		}
		n := min(int64(len(p)), cn.sendWin, st.sendWin, int64(cn.peerMax))
		cn.sendWin -= n
		st.sendWin -= n
		cn.mu.Unlock()
		bp := cn.dataBuf(int(n))
		chunk := append((*bp)[:0], p[:n]...)
		id := st.ID
		if !cn.queue(func(w *writer) error {
			err := w.fr.WriteData(id, false, chunk) // the framer copies it out
			*bp = chunk
			cn.dataBufs.Put(bp)
			return err
		}) {
			return written, errConnClosed
		}
		written += int(n)
		p = p[n:]
	}
	return written, nil
}

// dataBufSize is the size of the pooled DATA copies: the default maximum
// frame size, which most chunks fit.
const dataBufSize = 16 << 10

// dataBuf returns a buffer for a DATA payload of n bytes.
func (cn *conn) dataBuf(n int) *[]byte {
	if n <= dataBufSize {
		if bp, ok := cn.dataBufs.Get().(*[]byte); ok {
			return bp
		}
		b := make([]byte, 0, dataBufSize)
		return &b
	}
	b := make([]byte, 0, n) // a larger frame size the client allowed
	return &b
}

// SetReadDeadline bounds the waits of Body's reads: past t they fail with
// os.ErrDeadlineExceeded (the stream stays usable); zero means none.
func (st *Stream) SetReadDeadline(t time.Time) { st.body.setDeadline(t) }

// SetWriteDeadline bounds Write's waits for the client's flow-control
// windows: past t they fail with os.ErrDeadlineExceeded; zero means none.
func (st *Stream) SetWriteDeadline(t time.Time) {
	cn := st.cn
	cn.mu.Lock()
	defer cn.mu.Unlock()
	st.wdeadline = t
	if st.wtimer != nil {
		st.wtimer.Stop()
		st.wtimer = nil
	}
	if !t.IsZero() {
		st.wtimer = time.AfterFunc(time.Until(t), func() {
			cn.mu.Lock()
			cn.cond.Broadcast()
			cn.mu.Unlock()
		})
	}
}

// Close ends the response: with trailers (a HEADERS frame), or an empty
// END_STREAM DATA frame.
func (st *Stream) Close(trailers []hpack.HeaderField) error {
	cn := st.cn
	cn.mu.Lock()
	if st.reset || st.ended {
		cn.mu.Unlock()
		return nil
	}
	if !st.headersSent {
		cn.mu.Unlock()
		return errors.New("http2: Close before the response head")
	}
	st.ended = true
	cn.mu.Unlock()
	if len(trailers) > 0 {
		return st.writeHeaders(trailers, true)
	}
	id := st.ID
	if !cn.queue(func(w *writer) error { return w.fr.WriteData(id, true, nil) }) {
		return errConnClosed
	}
	st.maybeDone()
	return nil
}

// Reset cancels the stream with code.
func (st *Stream) Reset(code http2.ErrCode) {
	st.cn.mu.Lock()
	defer st.cn.mu.Unlock()
	st.resetLocked(code)
}

// resetLocked sends RST_STREAM and ends the stream (cn.mu held).
func (st *Stream) resetLocked(code http2.ErrCode) {
	if st.reset {
		return
	}
	st.reset = true
	st.body.fail(fmt.Errorf("http2: stream reset (%s)", code))
	st.cn.endLocked(st)
	st.cn.cond.Broadcast()
	if !st.cn.closed {
		id := st.ID
		st.cn.wq <- func(w *writer) error { return w.fr.WriteRSTStream(id, code) }
	}
}

// finish ends what the handler left open.
func (st *Stream) finish() {
	cn := st.cn
	cn.mu.Lock()
	sent, ended, reset := st.headersSent, st.ended, st.reset
	cn.mu.Unlock()
	switch {
	case reset || ended:
	case sent:
		st.Close(nil)
	default:
		st.Reset(http2.ErrCodeInternal)
	}
	// A request body the handler did not read is not wanted.
	if !st.body.ended() {
		st.Reset(http2.ErrCodeCancel)
	}
	st.maybeDone()
}

// maybeDone removes the stream once both sides have ended.
func (st *Stream) maybeDone() {
	cn := st.cn
	cn.mu.Lock()
	defer cn.mu.Unlock()
	if st.ended && st.body.ended() {
		cn.endLocked(st)
	}
}

// peerMaxFrame is the client's SETTINGS_MAX_FRAME_SIZE.
func (cn *conn) peerMaxFrame() uint32 {
	cn.mu.Lock()
	defer cn.mu.Unlock()
	return cn.peerMax
}

// body is a stream's request body: what DATA frames brought, not yet read.
type body struct {
	st      *Stream
	mu      sync.Mutex
	cond    *sync.Cond
	buf     []byte
	eof     bool
	err     error
	trailer []hpack.HeaderField
	unacked int // bytes read, not yet returned to the client's window

	deadline time.Time   // Read's bound (zero: none)
	timer    *time.Timer // wakes Read at the deadline

	// length is the declared content-length (-1: none); received counts
	// DATA payload bytes (both guarded by cn.mu).
	length, received int64
}

func (b *body) write(p []byte, end bool) {
	b.mu.Lock()
	b.buf = append(b.buf, p...)
	if end {
		b.eof = true
	}
	b.cond.Broadcast()
	b.mu.Unlock()
	if end {
		b.st.maybeDone()
	}
}

func (b *body) trailers(fields []hpack.HeaderField) {
	b.mu.Lock()
	b.trailer, b.eof = fields, true
	b.cond.Broadcast()
	b.mu.Unlock()
	b.st.maybeDone()
}

func (b *body) fail(err error) {
	b.mu.Lock()
	if b.err == nil && !b.eof {
		b.err = err
	}
	b.cond.Broadcast()
	b.mu.Unlock()
}

// ended reports whether the client's side of the stream is over.
func (b *body) ended() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.eof || b.err != nil
}

// Read returns body bytes as they come, and gives the windows back.
func (b *body) Read(p []byte) (int, error) {
	b.mu.Lock()
	for len(b.buf) == 0 && !b.eof && b.err == nil {
		if !b.deadline.IsZero() && !time.Now().Before(b.deadline) {
			b.mu.Unlock()
			return 0, os.ErrDeadlineExceeded
		}
		b.cond.Wait()
	}
	if len(b.buf) == 0 {
		err := b.err
		if err == nil {
			err = io.EOF
		}
		b.mu.Unlock()
		return 0, err
	}
	n := copy(p, b.buf)
	b.buf = b.buf[n:]
	if len(b.buf) == 0 {
		b.buf = nil
	}
	b.mu.Unlock()
	b.consumed(n)
	return n, nil
}

// setDeadline sets Read's bound.
func (b *body) setDeadline(t time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.deadline = t
	if b.timer != nil {
		b.timer.Stop()
		b.timer = nil
	}
	if !t.IsZero() {
		b.timer = time.AfterFunc(time.Until(t), func() {
			b.mu.Lock()
			b.cond.Broadcast()
			b.mu.Unlock()
		})
	}
}

// consumed returns n read bytes to the stream's and the connection's
// windows, batched to half a window.
func (b *body) consumed(n int) {
	st, cn := b.st, b.st.cn
	cn.returnConn(int64(n))
	cn.mu.Lock()
	b.unacked += n
	inc := b.unacked
	if inc < int(cn.lim.StreamWindow)/2 || st.reset || cn.closed {
		cn.mu.Unlock()
		return
	}
	b.unacked = 0
	st.recvWin += int64(inc)
	id := st.ID
	cn.wq <- func(w *writer) error { return w.fr.WriteWindowUpdate(id, uint32(inc)) }
	cn.mu.Unlock()
}
