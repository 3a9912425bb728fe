package httpproxy

import "github.com/sluice-proxy/sluice/protocols/http1"

// bodyPieces reads a message body in pieces: from the Reader's buffer while
// it holds bytes (what came with the head), then, for a body that is not
// chunked, in 32 KiB reads straight from the connection instead of 4 KiB at
// a time through the Reader's buffer. The 32 KiB buffer is the Service's,
// taken at the first direct read and given back by release, so an idle
// keep-alive connection holds none.
type bodyPieces struct {
	svc    *Service
	rd     *http1.Reader
	br     *http1.BodyReader
	direct bool // the body is not chunked: direct reads are allowed
	in     *[]byte
}

// next returns the next piece of the body, valid until the next call;
// errors are the BodyReader's.
func (b *bodyPieces) next() ([]byte, error) {
	if !b.direct || b.rd.Buffered() > 0 || b.br.Done() {
		return b.br.Next()
	}
	if b.in == nil {
		b.in = b.svc.bodyBuf()
	}
	n, err := b.br.Read(*b.in)
	return (*b.in)[:n], err
}

// release gives the buffer back.
func (b *bodyPieces) release() {
	if b.in != nil {
		b.svc.bodyBufs.Put(b.in)
		b.in = nil
	}
}
