// Package http1 is sluice's own HTTP/1.1 message codec: it reads request and
// response heads and bodies from a connection and writes them back, strictly
// per RFC 9112 and RFC 9110. Where the RFC says a recipient MUST reject, it
// rejects (with an error that names the fault and maps to a status through
// [StatusOf]); it never guesses at an ambiguous message, which is what keeps a
// proxy safe from request smuggling.
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
//		// forward req.AppendHead(buf) and copy body, then loop if req.KeepAlive
//	}
package http1
