// Package connfilter decides on a new connection from its addresses and the
// name of the listener that accepted it, before any byte is read or a TLS
// handshake starts. It is sluice's form of Pingora's ConnectionFilter.
//
// A [Filter] returns either a release func, which the caller calls exactly
// once when the accepted connection closes, or an error; rejections are
// [*RejectError] values whose Reason is a short, low-cardinality label fit
// for a metric. [Chain] runs filters in order and undoes what earlier filters
// acquired when a later one rejects.
//
// Typical usage, with the transport package's accept loop:
//
//	allow, _ := connfilter.NewCIDR([]netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}, nil)
//	srv := &transport.Server{
//		Name:     "db",
//		Listener: ln,
//		Filter: connfilter.Chain(
//			allow,
//			connfilter.NewMaxConns(10000),
//			connfilter.NewMaxConnsPerIP(64),
//			connfilter.NewRate(20, 40),
//		),
//		Handler: handle,
//	}
//
// # Stages and the PROXY protocol
//
// A filter may be asked twice about one connection. At [StageAccept],
// right after accept, [Info.Client] is the socket's peer. When that peer is a
// trusted proxy that will send a PROXY header ([Info.AwaitingProxy]), the
// peer is only the proxy, so the filters are asked again at [StageProxy], once
// the header has named the real client, and Info.Client is then that client.
//
// The built-ins follow one rule: the per-client filters ([CIDR],
// [MaxConnsPerIP], [Rate]) judge Info.Client only once the real client is
// known — at StageAccept when no PROXY header is awaited, and at StageProxy —
// and pass at the other stage; [Info.ClientKnown] reports which case holds.
// The global [MaxConns] counts sockets, so it acts at StageAccept only.
//
// On a TLS listener the filters are asked once more at [StageHello], after
// the ClientHello has been read and before any key exchange, with
// [Info.Hello] (server name, ALPN, JA4 fingerprint): the built-ins pass,
// a filter on names or fingerprints drops a client before it costs a
// handshake. [HelloFunc] makes one from a function of the hello.
//
// The built-ins never block and allocate little: CIDR allocates nothing on
// admission, MaxConns nothing at all, MaxConnsPerIP one release func per
// admitted connection. Their tables are bounded: per-IP entries go when their
// count drops to zero, and rate buckets are pruned once they have refilled,
// under a hard cap on entries.
package connfilter
