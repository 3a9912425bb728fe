package http1

import (
	"bytes"
	"errors"
	"io"
)

const (
	// initialBufSize is a new Reader's buffer size; it grows only when a
	// head, a chunk-size line or a trailer section needs more.
	initialBufSize = 4 << 10
	// maxEmptyLines bounds the empty lines skipped before a request line.
	maxEmptyLines = 8
)

// errLineLimit is lineEnd's internal signal that no LF came within the limit;
// callers turn it into the error of the limit that applies.
var errLineLimit = errors.New("http1: line limit")

// Reader reads messages from a connection through its own buffer, which
// starts small and grows up to Limits.MaxHeadBytes only when a head needs it.
// It allocates nothing per message in steady state. A Reader is not safe for
// concurrent use. The body of each message must be read to its end (or the
// connection given up) before the next head is read.
type Reader struct {
	src     io.Reader
	lim     Limits
	buf     []byte
	r, w    int   // buf[r:w] is read but not consumed
	pending error // an error src returned along with data, reported by the next fill
	owed    bool  // the last head announced a body Body has not been asked for
	body    BodyReader
}

// bodyRead fails with ErrBodyNotRead unless the last message's body has been
// read to its end.
func (r *Reader) bodyRead() error {
	if r.owed || r.body.active && r.body.err != io.EOF {
		return ErrBodyNotRead
	}
	return nil
}

// NewReader returns a Reader of src bounded by lim; zero fields of lim take
// their defaults.
func NewReader(src io.Reader, lim Limits) *Reader {
	r := &Reader{src: src, lim: lim.withDefaults()}
	r.body.rd = r
	return r
}

// Reset discards buffered bytes and reads from src from now on, for reuse on
// another connection. The buffer is kept.
func (r *Reader) Reset(src io.Reader) {
	r.src = src
	r.r, r.w = 0, 0
	r.pending = nil
	r.owed = false
	r.body = BodyReader{rd: r, trailers: r.body.trailers}
	r.body.trailers.Reset()
}

// Buffered returns the number of bytes read but not yet consumed. After a
// failed ReadRequest it tells a timeout in the middle of a head (non-zero)
// from one on an idle connection (zero).
func (r *Reader) Buffered() int { return r.w - r.r }

// Detach hands over the buffered bytes, as a copy the caller owns (nil when
// there are none), for a tunnel after 101 or CONNECT; r is empty afterwards.
func (r *Reader) Detach() []byte {
	var p []byte
	if r.w > r.r {
		p = bytes.Clone(r.buf[r.r:r.w])
	}
	r.r, r.w = 0, 0
	r.pending = nil
	return p
}

// maxBuf is the most the buffer ever needs to hold.
func (r *Reader) maxBuf() int {
	return max(r.lim.MaxHeadBytes, r.lim.MaxTrailerBytes, r.lim.MaxLineBytes+2, chunkLineMax(r.lim), initialBufSize)
}

// fill reads once more from src into the buffer, first making room so that
// need bytes from r.r fit (callers pass need > Buffered()). It returns the
// source's error, io.EOF included, unwrapped.
func (r *Reader) fill(need int) error {
	if r.pending != nil {
		err := r.pending
		r.pending = nil
		return err
	}
	if r.r == r.w {
		r.r, r.w = 0, 0
	}
	if r.w == len(r.buf) || len(r.buf)-r.r < need {
		if len(r.buf) < need || r.r == 0 {
			n := max(min(2*len(r.buf), r.maxBuf()), need, initialBufSize)
			nb := make([]byte, n)
			r.w = copy(nb, r.buf[r.r:r.w])
			r.buf = nb
		} else {
			r.w = copy(r.buf, r.buf[r.r:r.w])
		}
		r.r = 0
	}
	for range 100 {
		n, err := r.src.Read(r.buf[r.w:])
		if n < 0 || n > len(r.buf)-r.w {
			return errors.New("http1: source returned an invalid count")
		}
		r.w += n
		if n > 0 {
			r.pending = err
			return nil
		}
		if err != nil {
			return err
		}
	}
	return io.ErrNoProgress
}

// lineEnd finds the LF ending the line that starts at offset from (offsets
// are relative to r.r) and returns the LF's offset, reading as needed. The LF
// must come fewer than limit bytes after from, or lineEnd fails with
// errLineLimit. Source errors, io.EOF included, come back unwrapped.
func (r *Reader) lineEnd(from, limit int) (int, error) {
	scan := from
	for {
		hi := min(r.w, r.r+from+limit)
		if lo := r.r + scan; lo < hi {
			if i := bytes.IndexByte(r.buf[lo:hi], '\n'); i >= 0 {
				return scan + i, nil
			}
		}
		scan = hi - r.r
		if scan-from >= limit {
			return 0, errLineLimit
		}
		if err := r.fill(from + limit); err != nil {
			return 0, err
		}
	}
}

// line returns the content of the line from offset from to the LF at end,
// without its CRLF; ok is false when the LF is not preceded by CR (a bare
// LF, which we reject).
func (r *Reader) line(from, end int) (content []byte, ok bool) {
	if end == from || r.buf[r.r+end-1] != '\r' {
		return nil, false
	}
	return r.buf[r.r+from : r.r+end-1], true
}
