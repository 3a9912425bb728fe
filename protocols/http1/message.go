package http1

// Framing says how a message body is delimited.
type Framing uint8

const (
	NoBody     Framing = iota // no body (e.g. GET without CL/TE, HEAD response, 1xx/204/304)
	Length                    // Content-Length
	Chunked                   // Transfer-Encoding: chunked
	UntilClose                // response read until the connection closes
)

// Request is a request head. Reuse one across requests (Reset is done by
// ReadRequest) to read without allocating.
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
}

// Reset empties r, keeping its storage.
func (r *Request) Reset() {}

// AppendHead appends the request line, the fields and the empty line to dst,
// exactly as held; the caller is responsible for the framing fields.
func (r *Request) AppendHead(dst []byte) []byte { return dst }

// Response is a response head. Reuse one across responses.
type Response struct {
	Version       int
	Status        int
	Reason        []byte
	Header        Header
	Framing       Framing // set by ReadResponse, taking the request method (HEAD) and status (1xx, 204, 304) into account
	ContentLength int64
	KeepAlive     bool
}

// Reset empties r, keeping its storage.
func (r *Response) Reset() {}

// AppendHead appends "HTTP/1.x SSS Reason\r\n", the fields and the empty
// line to dst.
func (r *Response) AppendHead(dst []byte) []byte { return dst }
