package proxyproto

import "errors"

// Errors returned by [Acceptor.Accept]. Each is matched with errors.Is; the
// returned error also wraps its cause (go-proxyproto's parse error,
// os.ErrDeadlineExceeded, io.EOF, io.ErrUnexpectedEOF).
var (
	// ErrNoHeader means the peer's first bytes are not a PROXY signature.
	// From a trusted peer on a PROXY listener that is a rejection: the
	// receiver must not guess that the header was left out on purpose.
	ErrNoHeader = errors.New("proxyproto: no PROXY header")
	// ErrInvalidHeader means the bytes start with a PROXY signature but the
	// header is malformed, uses an unsupported command or family, carries a
	// malformed TLV block, or is larger than the configured limit.
	ErrInvalidHeader = errors.New("proxyproto: invalid PROXY header")
	// ErrTimeout means the header was not complete within
	// [Acceptor.HeaderTimeout]. The error also wraps os.ErrDeadlineExceeded.
	ErrTimeout = errors.New("proxyproto: timed out reading PROXY header")
)
