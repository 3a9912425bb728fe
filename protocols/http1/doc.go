// Package http1 is sluice's own HTTP/1.1 message codec: it reads request and
// response heads and bodies from a connection and writes them back, strictly
// per RFC 9112 and RFC 9110. Where the RFC lets a recipient reject, it
// rejects, with an error that names the fault and maps to a status through
// [StatusOf]; it never guesses at an ambiguous message, which is what keeps a
// proxy in front of other HTTP implementations safe from request smuggling.
//
// A [Reader] owns one buffer per connection and reuses it, with the
// [Request], [Response] and [Header] values a caller reuses, so reading a
// request head allocates nothing in steady state.
//
//	rd := http1.NewReader(conn, http1.Limits{})
//	var req http1.Request
//	for {
//		if err := rd.ReadRequest(&req); err != nil {
//			if st := http1.StatusOf(err); st != 0 {
//				// answer st, then close
//			}
//			return
//		}
//		body := rd.Body(req.Framing, req.ContentLength)
//		// forward req.AppendHead(buf), copy body to io.EOF, loop if req.KeepAlive
//	}
//
// # What is rejected
//
// Lines must end in CRLF: a bare LF or a bare CR anywhere is an error. The
// request line is exactly method SP request-target SP HTTP-version, with a
// token method, a target of visible ASCII or obs-text with well-formed
// percent-encoding, whose form fits the method (authority-form only for
// CONNECT, "*" only for OPTIONS, otherwise origin-form or absolute-form; an
// authority is host[:port] with no userinfo and no percent-encoding, and an
// http(s) absolute-form target must have one), and HTTP/1.0 or HTTP/1.1 (a higher 1.x
// minor is read as 1.1; any other well-formed version is [ErrBadVersion],
// as is a request line without a version). Up to 8 empty lines before a
// request line are skipped. A status line is HTTP-version SP 3DIGIT SP
// reason, status 100..599, the final SP optional when the reason is empty.
//
// Field lines are token ":" OWS value OWS: a line starting with whitespace
// (obsolete folding) is [ErrObsFold], whitespace before the colon is
// [ErrSpaceBeforeColon], and an empty name, a non-token name byte, or a
// control byte other than HTAB in a value is [ErrBadField]. An HTTP/1.1
// request must have exactly one Host, whose value is empty or uri-host
// [":" port] as for an authority; no request may have two.
//
// Framing (RFC 9112 6): Transfer-Encoding together with Content-Length, in
// an HTTP/1.0 message, with chunked other than once and last, or with a
// coding other than chunked is rejected, in responses too (a proxy answers
// 502 and does not reuse the connection rather than guess); Content-Length
// must be one field of 1*DIGIT fitting an int64 (no lists, even of equal
// values). A response to HEAD, and any 1xx, 204 or 304, has no body; a
// response framed by neither field runs until the connection closes.
//
// Chunked bodies: hex sizes of at most 15 digits, extensions checked against
// the grammar and bounded by Limits.MaxChunkExtBytes, CRLF after each chunk's
// data, trailers parsed with the field rules and bounded by
// Limits.MaxTrailerBytes and Limits.MaxHeaders.
package http1
