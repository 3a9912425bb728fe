package http1

import "io"

// BodyReader reads one message body; get it from [Reader.Body].
type BodyReader struct {
	rd       *Reader
	trailers Header
}

var _ io.Reader = (*BodyReader)(nil)

// Read reads body data. It returns io.EOF at the end of the body and
// io.ErrUnexpectedEOF when the peer closes mid-body (not for UntilClose).
func (b *BodyReader) Read(p []byte) (int, error) { return 0, io.EOF }

// Next returns the next piece of body data straight from the Reader's
// buffer, valid until the next call on b or its Reader; (nil, io.EOF) at the
// end.
func (b *BodyReader) Next() ([]byte, error) { return nil, io.EOF }

// Trailers returns the chunked trailer fields, valid after io.EOF.
func (b *BodyReader) Trailers() *Header { return &b.trailers }

// Done reports whether the whole body (and trailers) has been consumed.
func (b *BodyReader) Done() bool { return true }

// Bytes returns the payload bytes returned so far (framing excluded).
func (b *BodyReader) Bytes() int64 { return 0 }
