// Package vstream is sluice's stream abstraction: one interface that real
// sockets, TLS, QUIC streams, in-memory pipes, tunnels and custom multiplexed
// protocols all implement, so every service above it (tcpproxy, httpproxy)
// serves any of them the same way — Pingora's virtual L4 streams in Go.
//
// A [Stream] is a net.Conn that can also half-close its write side. A
// [Digest] carries the per-connection facts gathered on the way in: when it
// was accepted, on which listener, its addresses, the original client
// address and TLVs from a PROXY header, the TLS state, and one typed value
// of the user's own:
//
//	d := vstream.NewDigest("web", conn)
//	vstream.SetExtension(d, myAuthInfo{User: "alice"})
//	...
//	info, ok := vstream.Extension[myAuthInfo](d)
//
// Streams that carry a Digest of their own implement [Digester]; NewDigest
// starts from a clone of it, so an accept loop keeps what the producer knew.
//
// Virtual streams meet real ones at three points. [Pipe] makes an
// in-memory, buffered, half-closable pair with deadlines: a net.Pipe that
// behaves like a socket. [Listener] is a net.Listener fed by any producer
// with Deliver, with backpressure, so one accept loop serves sockets and
// virtual streams alike:
//
//	ln := vstream.NewListener(vstream.Addr{Net: "vmux", Name: "edge"}, 64)
//	go vmux.Serve(ctx, tcpLn, ln, vmux.Config{}) // produces streams
//	go proxy.Serve(ctx, ln)                      // serves them like sockets
//
// [Dialer] is what an upstream dial goes through, so an upstream can be
// virtual; [DialFunc] adapts one to lb.DialFunc's shape:
//
//	cfg.Dial = vstream.DialFunc(session) // a *vmux.Session is a Dialer
//
// Wrappers that sit over a socket without changing its bytes implement
// [Unwrapper] ([Conn] does), so splice can still reach the raw socket
// underneath; a virtual stream is copied through buffers instead.
package vstream
