// Package vstream is sluice's stream abstraction: one interface that real
// sockets, TLS, QUIC streams, in-memory pipes, tunnels and custom multiplexed
// protocols all implement, so every service above it (tcpproxy, httpproxy)
// serves any of them the same way.
//
// A Stream is a net.Conn that can also half-close its write side. A Digest
// carries the per-connection facts gathered on the way in: when it was
// accepted, on which listener, its addresses, the original client address
// and TLVs from a PROXY header, and one typed value of the user's own:
//
//	d := vstream.NewDigest("web", conn)
//	vstream.SetExtension(d, myAuthInfo{User: "alice"})
//	...
//	info, ok := vstream.Extension[myAuthInfo](d)
//
// Wrappers that sit over a socket without changing its bytes implement
// Unwrapper, so splice can still reach the raw socket underneath.
package vstream
