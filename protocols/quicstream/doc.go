// Package quicstream adapts QUIC streams (github.com/quic-go/quic-go) to
// vstream.Stream, so a QUIC stream stands where a TCP connection does:
// downstream, through Serve feeding a vstream.Listener that any accept loop
// serves; upstream, through Dialer, a vstream.Dialer that opens streams on
// a QUIC connection.
//
// Typical usage, server side:
//
//	ql, _ := quic.ListenAddr(":7443", tlsConf, &quic.Config{})
//	vl := vstream.NewListener(vstream.Addr{Net: "quic", Name: ":7443"}, 64)
//	go quicstream.Serve(ctx, ql, vl)
//	go proxy.Serve(ctx, vl) // each QUIC stream is one proxied connection
//
// and as an upstream:
//
//	conn, _ := quic.DialAddr(ctx, "upstream:7443", tlsConf, nil)
//	cfg.Dial = vstream.DialFunc(&quicstream.Dialer{Conn: conn})
//
// A Stream's Close closes both directions as closing a socket does (FIN,
// and STOP_SENDING when the peer has not finished), its CloseWrite only the
// send direction; its Digest carries the connection's addresses and TLS
// state. QUIC streams are not sockets, so splice copies them through
// buffers.
package quicstream
