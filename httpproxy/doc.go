// Package httpproxy is sluice's programmable HTTP proxy: Pingora's
// ProxyHttp in Go. A Service reads requests from any stream (a socket, a
// vmux or QUIC stream, an in-memory pipe) with sluice's own HTTP/1.1 codec
// (protocols/http1), runs each through the phases of a Proxy, and forwards
// it over a pool of upstream connections shared by every goroutine.
//
// A Proxy implements one method, UpstreamPeer; every other phase is an
// optional interface the Service finds once, when it is built:
//
//	type LB struct{ up *httpproxy.Balanced } // an lb.Balancer, with its books kept
//
//	func (p LB) UpstreamPeer(ctx context.Context, s *httpproxy.Session) (*httpproxy.Peer, error) {
//		return p.up.Pick(s)
//	}
//
//	func (LB) UpstreamRequestFilter(ctx context.Context, s *httpproxy.Session, req *http1.Request) error {
//		req.Header.Set("Host", "one.one.one.one")
//		return nil
//	}
//
//	bal, _ := lb.New(backends, lb.LeastConn)
//	svc, _ := httpproxy.New(LB{httpproxy.NewBalanced(bal, nil)}, httpproxy.Config{Name: "web"})
//	go svc.Serve(ctx, ln)
//
// Balanced.Pick is all an UpstreamPeer needs to balance: the backend is
// held for the request (least_conn counts), a backend that fails to
// connect is reported (passive health) and not picked again for the same
// request (failover), and the request's outcome is reported when it ends.
// A bare lb.Balancer.Pick does none of that.
//
// What the pipeline guarantees:
//   - Bodies stream through in both directions without being held whole,
//     with backpressure: a slow reader slows its writer.
//   - Framing is strict both ways: a malformed request gets 400 (or 408,
//     413, 414, 431, 501, 505) and the connection is closed; a malformed
//     response gets the client a 502, and its upstream connection is
//     closed, never pooled.
//   - A connection returns to the pool only after an exchange whose
//     framing was in no doubt. A request that failed on a reused
//     connection before any of it could have been acted on is retried on a
//     fresh one; when that could not be done (a streamed body), the pooled
//     connection is probed for a close first.
//   - An upstream that answers before it has the whole request body is
//     answered to the client; the rest of the body is read and dropped.
//   - Hop-by-hop fields (RFC 9110 7.6.1) are removed each way; an Upgrade
//     (WebSocket and others) becomes a two-way tunnel only once the
//     upstream has answered 101.
//   - Every wait on a peer has a bound (Timeouts), and every failure has a
//     kind (ErrConnect, ErrUpstreamTimeout, ...) that picks the status, the
//     metric label and the log line. An error a phase returns that already
//     carries a kind keeps it.
//   - A request's metrics are recorded, and its access-log line written,
//     after its response has been sent: a client may read a response
//     before it is counted.
package httpproxy
