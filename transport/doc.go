// Package transport is sluice's layer of real sockets: listeners and dialers
// for TCP (tcp, tcp4, tcp6) and Unix stream sockets with the socket options a
// proxy tunes, and the accept loop that runs connection filters and hands each
// accepted connection to a handler on its own goroutine.
//
// Typical usage:
//
//	lc := &transport.ListenConfig{Network: "tcp", Address: ":5432", ReusePort: true, Backlog: 4096}
//	ln, err := lc.Listen(ctx)
//	if err != nil { ... }
//	srv := &transport.Server{
//		Name:     "db",
//		Listener: ln,
//		Filter:   connfilter.Chain(allow, connfilter.NewMaxConnsPerIP(64)),
//		Handler: func(ctx context.Context, c net.Conn, d *vstream.Digest, release func()) {
//			defer release()
//			defer c.Close()
//			...
//		},
//	}
//	go srv.Serve(ctx)
//	...
//	srv.Shutdown(drainCtx) // stop accepting, wait for handlers
//
// # The accept loop
//
// [Server.Serve] does nothing on its accepting goroutine but accept: each
// connection goes at once to a goroutine of its own (Server.serveConn), which
// runs the filter with a deadline, builds the connection's [vstream.Digest]
// and calls the handler. A slow filter therefore holds up only the connection
// it is judging. When accept fails for lack of resources (EMFILE, ENFILE,
// ENOBUFS, ENOMEM) or another temporary reason, the loop backs off, 5 ms
// doubling to 1 s, resetting after the next success, and logs once per
// episode: it never spins. On Linux, when the lack is of descriptors
// (EMFILE, ENFILE), the Server first frees a spare descriptor it keeps for
// the purpose, accepts one queued connection and closes it at once, so that
// a client queued during the shortage is refused in a moment instead of
// waiting for its own timeout.
//
// The socket options are Linux's; on other systems the listeners and dialers
// work, and asking for an option returns an error.
package transport
