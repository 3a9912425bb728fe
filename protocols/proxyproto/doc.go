// Package proxyproto receives and sends PROXY protocol headers (v1 text and v2
// binary, https://www.haproxy.org/download/2.9/doc/proxy-protocol.txt), the
// way a load balancer in front of sluice tells it who the client really is,
// and the way sluice tells its own upstreams. Parsing and formatting are done
// by github.com/pires/go-proxyproto; this package owns the buffering, the
// header deadline and size cap, the trust check and the errors a caller counts.
//
// Receiving follows the spec's rule that a receiver must never guess: on a
// listener configured for PROXY, a peer inside the trusted prefixes must send
// a header, and a peer outside them is rejected before anything is read.
//
//	acc := &proxyproto.Acceptor{Trusted: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}
//	if !acc.Trusts(vstream.AddrPort(raw.RemoteAddr()).Addr()) {
//		raw.Close() // untrusted: reject without reading
//	}
//	conn, hdr, err := acc.Accept(raw) // ErrNoHeader, ErrInvalidHeader, ErrTimeout, EOF
//	if err != nil {
//		raw.Close()
//	}
//	hdr.Apply(digest) // ClientAddr, ProxyDest, ProxyTLVs
//	// conn.RemoteAddr() is now the original client.
//
// Sending is one call made right after connecting, before any client byte, so
// server-first protocols (SMTP, MySQL) work:
//
//	err := proxyproto.WriteHeader(upstream, 2, client.RemoteAddr(), client.LocalAddr(), nil)
package proxyproto
