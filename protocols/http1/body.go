package http1

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
)

// chunkState is where a chunked body's decoder stands.
type chunkState uint8

const (
	chunkSize    chunkState = iota // before a chunk-size line
	chunkData                      // in chunk data, remain bytes left
	chunkDataEnd                   // before the CRLF that ends chunk data
	chunkTrailer                   // before the trailer section
)

// maxChunkSizeDigits bounds the hex digits of a chunk size (so it fits an
// int64 with room to spare).
const maxChunkSizeDigits = 15

// chunkLineMax is the longest chunk-size line, CRLF included, lim allows.
func chunkLineMax(lim Limits) int { return maxChunkSizeDigits + lim.MaxChunkExtBytes + 2 }

// BodyReader reads one message body; get it from [Reader.Body]. It is owned
// and reused by its Reader.
type BodyReader struct {
	rd       *Reader
	framing  Framing
	remain   int64 // Length: bytes left; Chunked: bytes left in the current chunk
	state    chunkState
	n        int64
	err      error // sticky: io.EOF at the end, or a framing fault
	active   bool  // handed out by Body since the last Reset
	trailers Header
}

var _ io.Reader = (*BodyReader)(nil)

// Body returns a reader of the body that follows the last head, framed as f
// with contentLength for Length (normally the head's Framing and
// ContentLength). Call it once per message: the BodyReader is owned by r and
// a second call starts a new body where the Reader stands. Read it to io.EOF
// before reading the next head (ReadRequest and ReadResponse refuse with
// ErrBodyNotRead otherwise, so body bytes are never read as a head).
func (r *Reader) Body(f Framing, contentLength int64) *BodyReader {
	b := &r.body
	*b = BodyReader{rd: r, framing: f, active: true, trailers: b.trailers}
	b.trailers.Reset()
	r.owed = false
	switch f {
	case NoBody:
		b.err = io.EOF
	case Length:
		switch {
		case contentLength < 0:
			b.err = fmt.Errorf("%w: body of length %d", ErrBadContentLength, contentLength)
		case contentLength == 0:
			b.err = io.EOF
		}
		b.remain = contentLength
	case Chunked, UntilClose:
	default:
		b.err = fmt.Errorf("http1: unknown framing %d", f)
	}
	return b
}

// Read reads body data. It returns io.EOF at the end of the body, and
// io.ErrUnexpectedEOF when the peer closes mid-body (not for UntilClose,
// whose end is the close). Framing faults wrap ErrBadChunk,
// ErrChunkExtTooLong, ErrTrailerTooLarge or a field error and are sticky;
// other source errors (a timeout) are returned wrapped and leave the reader
// where it was.
func (b *BodyReader) Read(p []byte) (int, error) {
	if len(p) == 0 || b.err != nil {
		return 0, b.err
	}
	r := b.rd
	// With nothing buffered and a large p, read straight into p.
	if r.r == r.w && r.pending == nil && len(p) >= len(r.buf) && len(p) >= initialBufSize &&
		(b.framing != Chunked || b.state == chunkData && b.remain > 0) {
		want := int64(len(p))
		if b.framing != UntilClose {
			want = min(want, b.remain)
		}
		n, err := r.src.Read(p[:want])
		if n < 0 || int64(n) > want {
			return 0, errors.New("http1: source returned an invalid count")
		}
		if n > 0 {
			r.pending = err
			b.consumed(n)
			return n, nil
		}
		if err == nil {
			return 0, nil
		}
		return 0, b.fail(err)
	}
	q, err := b.peek(len(p))
	if err != nil {
		return 0, err
	}
	n := copy(p, q)
	r.r += n
	b.consumed(n)
	return n, nil
}

// Next returns the next piece of body data straight from the Reader's
// buffer, valid until the next call on b or its Reader; (nil, io.EOF) at the
// end. Errors are as for Read.
func (b *BodyReader) Next() ([]byte, error) {
	if b.err != nil {
		return nil, b.err
	}
	q, err := b.peek(math.MaxInt)
	if err != nil {
		return nil, err
	}
	b.rd.r += len(q)
	b.consumed(len(q))
	return q, nil
}

// Ready reports whether the next Next or Read returns payload without
// reading from the source: payload bytes are buffered, past any chunk
// framing that is buffered whole (which it consumes). A relay writes out
// what it holds when Ready is false, so a body streamed in small chunks
// flows as it comes.
func (b *BodyReader) Ready() bool {
	r := b.rd
	if b.err != nil {
		return false
	}
	for b.framing == Chunked && b.state != chunkData {
		switch b.state {
		case chunkDataEnd:
			if r.w-r.r < 2 {
				return false
			}
		case chunkSize:
			if bytes.IndexByte(r.buf[r.r:r.w], '\n') < 0 {
				return false
			}
		default:
			return false
		}
		if b.advance() != nil {
			return false
		}
	}
	return r.r < r.w
}

// Trailers returns the chunked trailer fields, valid after io.EOF until the
// next Body call.
func (b *BodyReader) Trailers() *Header { return &b.trailers }

// Done reports whether the whole body (and trailers) has been consumed.
func (b *BodyReader) Done() bool { return b.err == io.EOF }

// Bytes returns the payload bytes returned so far (framing excluded).
func (b *BodyReader) Bytes() int64 { return b.n }

// Bypassable returns how many bytes of the body the caller may move itself
// from the connection under the Reader (with splice(2), say), skipping the
// Reader: the rest of a Content-Length body, once the Reader has handed
// out every byte it buffered and holds no pending error. It is 0 otherwise
// (other framings, bytes still buffered, the body ended or failed).
func (b *BodyReader) Bypassable() int64 {
	r := b.rd
	if b.framing != Length || b.err != nil || r.r != r.w || r.pending != nil {
		return 0
	}
	return b.remain
}

// Bypassed records that the caller moved n bytes of the body straight from
// the connection (at most Bypassable), so the Reader stands after them.
func (b *BodyReader) Bypassed(n int64) error {
	if n < 0 || n > b.Bypassable() {
		return fmt.Errorf("http1: %d body bytes bypassed, %d allowed", n, b.Bypassable())
	}
	if n > 0 {
		b.consumed(int(n))
	}
	return nil
}

// consumed accounts for n payload bytes handed to the caller.
func (b *BodyReader) consumed(n int) {
	b.n += int64(n)
	switch b.framing {
	case Length:
		b.remain -= int64(n)
		if b.remain == 0 {
			b.err = io.EOF
		}
	case Chunked:
		b.remain -= int64(n)
		if b.remain == 0 {
			b.state = chunkDataEnd
		}
	}
}

// fail turns a source error into the body's error: the end of input is
// the end of an UntilClose body and a truncation of any other, both sticky;
// other errors are wrapped and not sticky.
func (b *BodyReader) fail(err error) error {
	if err != io.EOF {
		return fmt.Errorf("http1: reading body: %w", err)
	}
	if b.framing == UntilClose {
		b.err = io.EOF
	} else {
		b.err = io.ErrUnexpectedEOF
	}
	return b.err
}

// fault makes err the body's sticky error.
func (b *BodyReader) fault(err error) error {
	b.err = err
	return err
}

// peek returns up to max bytes of payload from the buffer, reading if none
// is buffered, without consuming them. It is called with b.err nil.
func (b *BodyReader) peek(max int) ([]byte, error) {
	r := b.rd
	if b.framing == Chunked {
		for b.state != chunkData {
			if err := b.advance(); err != nil {
				return nil, err
			}
		}
	}
	if r.r == r.w {
		if err := r.fill(1); err != nil {
			return nil, b.fail(err)
		}
	}
	n := r.w - r.r
	if b.framing != UntilClose && int64(n) > b.remain {
		n = int(b.remain)
	}
	n = min(n, max)
	return r.buf[r.r : r.r+n], nil
}

// advance moves a chunked decoder through one piece of framing.
func (b *BodyReader) advance() error {
	r := b.rd
	switch b.state {
	case chunkDataEnd:
		for r.w-r.r < 2 {
			if err := r.fill(2); err != nil {
				return b.fail(err)
			}
		}
		if r.buf[r.r] != '\r' || r.buf[r.r+1] != '\n' {
			return b.fault(fmt.Errorf("%w: no CRLF after chunk data", ErrBadChunk))
		}
		r.r += 2
		b.state = chunkSize
	case chunkSize:
		end, err := r.lineEnd(0, chunkLineMax(r.lim))
		if err != nil {
			if err == errLineLimit {
				return b.fault(fmt.Errorf("%w: chunk-size line exceeds %d bytes", ErrChunkExtTooLong, chunkLineMax(r.lim)))
			}
			return b.fail(err)
		}
		line, ok := r.line(0, end)
		if !ok {
			return b.fault(fmt.Errorf("%w: chunk-size line ends in a bare LF", ErrBadChunk))
		}
		size, err := parseChunkLine(line, r.lim.MaxChunkExtBytes)
		if err != nil {
			return b.fault(err)
		}
		r.r += end + 1
		if size == 0 {
			b.state = chunkTrailer
		} else {
			b.remain, b.state = size, chunkData
		}
	case chunkTrailer:
		sec := section{what: "trailer section", maxBytes: r.lim.MaxTrailerBytes, maxFields: r.lim.MaxHeaders,
			errBytes: ErrTrailerTooLarge, errCount: ErrTrailerTooLarge, errLine: ErrTrailerTooLarge}
		n, err := r.readFields(&b.trailers, 0, &sec, nil)
		if err != nil {
			var rerr error
			if errors.Is(err, io.ErrUnexpectedEOF) {
				rerr = b.fail(io.EOF)
			} else if isFault(err) {
				rerr = b.fault(err)
			} else {
				b.trailers.Reset()
				return err
			}
			return rerr
		}
		r.r += n
		b.err = io.EOF
		return io.EOF
	}
	return nil
}

// isFault reports whether err is one of the codec's own errors.
func isFault(err error) bool { return StatusOf(err) != 0 }

// parseChunkLine parses `chunk-size [ chunk-ext ]` (RFC 9112 7.1, CRLF
// removed) and returns the size.
func parseChunkLine(line []byte, maxExt int) (int64, error) {
	i := 0
	var size int64
	for i < len(line) {
		d := hexVal(line[i])
		if d < 0 {
			break
		}
		if i == maxChunkSizeDigits {
			return 0, fmt.Errorf("%w: chunk size has more than %d digits", ErrBadChunk, maxChunkSizeDigits)
		}
		size = size<<4 | int64(d)
		i++
	}
	if i == 0 {
		return 0, fmt.Errorf("%w: no chunk size in %q", ErrBadChunk, clip(line))
	}
	ext := line[i:]
	if len(ext) > maxExt {
		return 0, fmt.Errorf("%w: %d bytes", ErrChunkExtTooLong, len(ext))
	}
	if err := checkChunkExt(ext); err != nil {
		return 0, err
	}
	return size, nil
}

// checkChunkExt checks chunk-ext = *( BWS ";" BWS chunk-ext-name
// [ BWS "=" BWS chunk-ext-val ] ), chunk-ext-val = token / quoted-string.
func checkChunkExt(ext []byte) error {
	for len(ext) > 0 {
		ext = skipOWS(ext)
		if len(ext) == 0 || ext[0] != ';' {
			return fmt.Errorf("%w: bad chunk extension", ErrBadChunk)
		}
		ext = skipOWS(ext[1:])
		n := tokenLen(ext)
		if n == 0 {
			return fmt.Errorf("%w: bad chunk extension name", ErrBadChunk)
		}
		ext = ext[n:]
		if t := skipOWS(ext); len(t) > 0 && t[0] == '=' {
			t = skipOWS(t[1:])
			if len(t) > 0 && t[0] == '"' {
				n = quotedLen(t)
			} else {
				n = tokenLen(t)
			}
			if n <= 0 {
				return fmt.Errorf("%w: bad chunk extension value", ErrBadChunk)
			}
			ext = t[n:]
		}
	}
	return nil
}

// skipOWS removes leading SP and HTAB.
func skipOWS(b []byte) []byte {
	for len(b) > 0 && isOWS(b[0]) {
		b = b[1:]
	}
	return b
}

// tokenLen returns the length of the token b starts with.
func tokenLen(b []byte) int {
	n := 0
	for n < len(b) && isTchar(b[n]) {
		n++
	}
	return n
}

// quotedLen returns the length of the quoted-string b starts with (RFC 9110
// 5.6.4), or -1 when it is malformed or unterminated.
func quotedLen(b []byte) int {
	for i := 1; i < len(b); i++ {
		switch c := b[i]; {
		case c == '"':
			return i + 1
		case c == '\\':
			if i+1 == len(b) || !isValue(b[i+1]) {
				return -1
			}
			i++
		case !isQdtext(c):
			return -1
		}
	}
	return -1
}
