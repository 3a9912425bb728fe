package http1

import "strconv"

// Framing says how a message body is delimited.
type Framing uint8

const (
	NoBody     Framing = iota // no body (e.g. GET without CL/TE, HEAD response, 1xx/204/304)
	Length                    // Content-Length
	Chunked                   // Transfer-Encoding: chunked
	UntilClose                // response read until the connection closes
)

// String returns the framing's name.
func (f Framing) String() string {
	switch f {
	case NoBody:
		return "no body"
	case Length:
		return "content-length"
	case Chunked:
		return "chunked"
	case UntilClose:
		return "until close"
	}
	return "Framing(" + strconv.Itoa(int(f)) + ")"
}

// Request is a request head. Reuse one across requests to read without
// allocating: ReadRequest resets it first. Method, Target and Host point into
// the Request's own storage and stay valid until the next Reset or
// ReadRequest.
type Request struct {
	Method  []byte
	Target  []byte // request-target as sent
	Version int    // 10 or 11
	Header  Header
	// Set by ReadRequest from the head (not updated by later Header edits):
	Framing        Framing
	ContentLength  int64 // -1 when absent
	KeepAlive      bool  // persistent connection per RFC 9112 9.3 (1.1 default unless Connection: close; 1.0 only with keep-alive)
	Upgrade        bool  // Upgrade field present and Connection lists "upgrade" (HTTP/1.1 only)
	ExpectContinue bool  // Expect: 100-continue
	Host           []byte

	line []byte // storage for Method, Target and Host
}

// Reset empties r, keeping its storage.
func (r *Request) Reset() {
	r.Method, r.Target, r.Host = nil, nil, nil
	r.Version = 0
	r.Header.Reset()
	r.Framing = NoBody
	r.ContentLength = -1
	r.KeepAlive, r.Upgrade, r.ExpectContinue = false, false, false
	r.line = r.line[:0]
}

// AppendHead appends the request line, the fields and the empty line to dst,
// exactly as held; the caller is responsible for the framing fields. A
// Version other than 10 is written as HTTP/1.1.
func (r *Request) AppendHead(dst []byte) []byte {
	dst = append(dst, r.Method...)
	dst = append(dst, ' ')
	dst = append(dst, r.Target...)
	dst = append(dst, ' ')
	dst = appendVersion(dst, r.Version)
	dst = append(dst, '\r', '\n')
	dst = r.Header.AppendTo(dst)
	return append(dst, '\r', '\n')
}

// Response is a response head. Reuse one across responses to read without
// allocating: ReadResponse resets it first. Reason points into the
// Response's own storage.
type Response struct {
	Version       int
	Status        int
	Reason        []byte
	Header        Header
	Framing       Framing // set by ReadResponse, taking the request method (HEAD) and status (1xx, 204, 304) into account
	ContentLength int64   // -1 when absent
	KeepAlive     bool

	line []byte // storage for Reason
}

// Reset empties r, keeping its storage.
func (r *Response) Reset() {
	r.Version, r.Status = 0, 0
	r.Reason = nil
	r.Header.Reset()
	r.Framing = NoBody
	r.ContentLength = -1
	r.KeepAlive = false
	r.line = r.line[:0]
}

// AppendHead appends "HTTP/1.x SSS Reason\r\n", the fields and the empty
// line to dst. The space after the status is written even for an empty
// Reason, as the grammar requires. A Version other than 10 is written as
// HTTP/1.1; Status is written as three digits (the caller keeps it in
// 100..999).
func (r *Response) AppendHead(dst []byte) []byte {
	dst = appendVersion(dst, r.Version)
	s := r.Status
	dst = append(dst, ' ', byte('0'+s/100%10), byte('0'+s/10%10), byte('0'+s%10), ' ')
	dst = append(dst, r.Reason...)
	dst = append(dst, '\r', '\n')
	dst = r.Header.AppendTo(dst)
	return append(dst, '\r', '\n')
}

// appendVersion appends HTTP/1.0 for 10 and HTTP/1.1 otherwise.
func appendVersion(dst []byte, v int) []byte {
	if v == 10 {
		return append(dst, "HTTP/1.0"...)
	}
	return append(dst, "HTTP/1.1"...)
}
