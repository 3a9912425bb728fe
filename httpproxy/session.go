package httpproxy

import (
	"net"
	"time"

	"github.com/sluice-proxy/sluice/protocols/http1"
	"github.com/sluice-proxy/sluice/vstream"
)

// Session is one request's passage through the pipeline. Phases read and
// edit it; it is valid only until Logging returns, and is reused for the
// connection's next request afterwards, so a phase must not keep it.
//
// The heads are protocol-neutral http1 values: an HTTP/2 or HTTP/3 front
// fills the same fields, so a Proxy works unchanged behind either.
type Session struct {
	// Request is the client's request head. Phases before UpstreamPeer may
	// edit it; the upstream gets a copy (see UpstreamRequestFilter).
	Request *http1.Request
	// Response is the response head: the upstream's as read, then as sent
	// to the client. It is empty until a response arrives.
	Response *http1.Response
	// Digest describes the client's connection: addresses, the original
	// client from a PROXY header, TLS state, a user extension.
	Digest *vstream.Digest
	// Ctx is the value NewCtx made for this request, or nil.
	Ctx any
	// Route labels this request's metrics (sluice_http_requests_total and
	// the latency histogram). A phase sets it; empty means no route. Keep
	// the set of values small: each is a metric series.
	Route string

	// Peer is the upstream the request went to last, or nil.
	Peer *Peer
	// Reused says whether the connection to Peer came from the pool.
	Reused bool
	// Tries counts the upstream attempts made, failed ones included.
	Tries int
	// LastError is the last failure met, retried or not.
	LastError error
	// Status is the status of the response sent to the client, 0 until a
	// head is sent, and 0 again when a response of the proxy's own (an
	// error page, Respond) could not be written: the client got nothing.
	Status int
	// RequestBodyBytes and ResponseBodyBytes count body payload moved each
	// way (without chunk framing).
	RequestBodyBytes, ResponseBodyBytes int64
	// Start is when the request head had been read; Connected when the
	// upstream connection was ready; FirstByte when the upstream's
	// response head had been read; End when the response had been sent.
	Start, Connected, FirstByte, End time.Time

	c         *h1conn
	upRequest http1.Request
	headSent  bool // a final response head reached the client (or its buffer)
	answered  bool // Respond or WriteResponse was called
	closeConn bool // the client connection ends after this request
	// undelivered is the status of a whole response whose write to the
	// client failed (Status is then 0), for the access log.
	undelivered int
	// pick is Balanced's state for this request.
	pick pickState
	// mirror is where Mirror asked a copy of the request to go.
	mirror *Peer
}

// reset readies s for the next request of its connection.
func (s *Session) reset() {
	c, req, resp, d := s.c, s.Request, s.Response, s.Digest
	up, pick := s.upRequest, s.pick
	*s = Session{c: c, Request: req, Response: resp, Digest: d}
	up.Reset()
	s.upRequest, s.pick = up, pick
}

// ClientAddr returns the original client's address: the source from an
// accepted PROXY header, otherwise the connection's peer.
func (s *Session) ClientAddr() net.Addr {
	if s.Digest == nil {
		return nil
	}
	if s.Digest.ClientAddr != nil {
		return s.Digest.ClientAddr
	}
	return s.Digest.RemoteAddr
}

// Responded reports whether a response head has been sent to the client.
func (s *Session) Responded() bool { return s.headSent }

// Respond answers the client with status and body, with the given
// Content-Type (none when empty). It is how RequestFilter answers a
// request itself, and how FailToProxy writes its own error page. It fails
// when a response head was already sent.
func (s *Session) Respond(status int, contentType string, body []byte) error {
	resp := s.Response
	resp.Reset()
	resp.Status = status
	if contentType != "" {
		resp.Header.Set("Content-Type", contentType)
	}
	return s.WriteResponse(resp, body)
}

// WriteResponse answers the client with resp and a whole body. resp may be
// Session.Response or a head of the caller's. ResponseFilter runs on it;
// Content-Length is then set to the body's length.
func (s *Session) WriteResponse(resp *http1.Response, body []byte) error {
	if s.headSent {
		return errAlreadyResponded
	}
	s.answered = true
	return s.c.writeWhole(s, resp, body)
}
