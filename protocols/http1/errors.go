package http1

import "errors"

// Sentinel errors. Returned errors wrap one of these with %w and context;
// match them with errors.Is. [StatusOf] maps them to the status a server
// answers a faulty request with.
var (
	// ErrHeadTooLarge: the head exceeds Limits.MaxHeadBytes (431).
	ErrHeadTooLarge = errors.New("http1: message head too large")
	// ErrLineTooLong: a field line exceeds Limits.MaxLineBytes (431).
	ErrLineTooLong = errors.New("http1: line too long")
	// ErrTooManyHeaders: more than Limits.MaxHeaders field lines (431).
	ErrTooManyHeaders = errors.New("http1: too many header fields")
	// ErrURITooLong: the request line exceeds Limits.MaxLineBytes (414).
	ErrURITooLong = errors.New("http1: request line too long")
	// ErrBadStartLine: a malformed request line or status line (400).
	ErrBadStartLine = errors.New("http1: malformed start line")
	// ErrBadVersion: a well-formed HTTP-version other than HTTP/1.0 or
	// HTTP/1.1 (505).
	ErrBadVersion = errors.New("http1: unsupported HTTP version")
	// ErrBadField: a malformed field line: bad name or value characters, no
	// colon, empty name, bare CR (400).
	ErrBadField = errors.New("http1: malformed header field")
	// ErrObsFold: a field line starting with whitespace (obsolete line
	// folding) (400).
	ErrObsFold = errors.New("http1: obsolete line folding")
	// ErrSpaceBeforeColon: whitespace between a field name and its colon (400).
	ErrSpaceBeforeColon = errors.New("http1: whitespace before colon in header field")
	// ErrBadContentLength: an invalid or repeated Content-Length (400).
	ErrBadContentLength = errors.New("http1: invalid Content-Length")
	// ErrBadTransferEncoding: a Transfer-Encoding whose final coding is not
	// chunked, or chunked applied more than once (400).
	ErrBadTransferEncoding = errors.New("http1: invalid Transfer-Encoding")
	// ErrUnsupportedTransferCoding: a transfer coding other than chunked (501).
	ErrUnsupportedTransferCoding = errors.New("http1: unsupported transfer coding")
	// ErrTEWithContentLength: both Transfer-Encoding and Content-Length (400).
	ErrTEWithContentLength = errors.New("http1: Transfer-Encoding with Content-Length")
	// ErrTEOnHTTP10: Transfer-Encoding in an HTTP/1.0 message (400).
	ErrTEOnHTTP10 = errors.New("http1: Transfer-Encoding in HTTP/1.0 message")
	// ErrMissingHost: an HTTP/1.1 request without Host (400).
	ErrMissingHost = errors.New("http1: missing Host")
	// ErrRepeatedHost: more than one Host field (400).
	ErrRepeatedHost = errors.New("http1: repeated Host")
	// ErrBadChunk: malformed chunked framing (400).
	ErrBadChunk = errors.New("http1: malformed chunked encoding")
	// ErrChunkExtTooLong: chunk extensions exceed Limits.MaxChunkExtBytes (400).
	ErrChunkExtTooLong = errors.New("http1: chunk extensions too long")
	// ErrTrailerTooLarge: the trailer section exceeds Limits.MaxTrailerBytes
	// or Limits.MaxHeaders (431).
	ErrTrailerTooLarge = errors.New("http1: trailer section too large")
	// ErrBadStatus: a malformed status code in a status line (502 for a
	// proxy; StatusOf says 400 as for any framing fault).
	ErrBadStatus = errors.New("http1: malformed status code")
	// ErrBodyNotRead: ReadRequest or ReadResponse was called before the
	// previous message's body was read to its end (or after it failed). It
	// is the caller's fault, not the peer's: StatusOf says 0.
	ErrBodyNotRead = errors.New("http1: previous message body not read to the end")
)

// StatusOf returns the status a server should answer a request fault with:
// 400, 414, 431, 501 or 505. It returns 0 when err is not a codec error.
func StatusOf(err error) int {
	if err == nil {
		return 0
	}
	switch {
	case errors.Is(err, ErrURITooLong):
		return 414
	case errors.Is(err, ErrHeadTooLarge), errors.Is(err, ErrLineTooLong),
		errors.Is(err, ErrTooManyHeaders), errors.Is(err, ErrTrailerTooLarge):
		return 431
	case errors.Is(err, ErrUnsupportedTransferCoding):
		return 501
	case errors.Is(err, ErrBadVersion):
		return 505
	case errors.Is(err, ErrBadStartLine), errors.Is(err, ErrBadField), errors.Is(err, ErrObsFold),
		errors.Is(err, ErrSpaceBeforeColon), errors.Is(err, ErrBadContentLength),
		errors.Is(err, ErrBadTransferEncoding), errors.Is(err, ErrTEWithContentLength),
		errors.Is(err, ErrTEOnHTTP10), errors.Is(err, ErrMissingHost), errors.Is(err, ErrRepeatedHost),
		errors.Is(err, ErrBadChunk), errors.Is(err, ErrChunkExtTooLong), errors.Is(err, ErrBadStatus):
		return 400
	}
	return 0
}
