// Package splice moves bytes between connections: the hot path of a proxy.
//
// [Copy] is io.Copy for proxies. When both ends are sockets (*net.TCPConn or
// stream *net.UnixConn, in any combination) it moves data with splice(2)
// through a kernel pipe, or with read/write through a pooled buffer when a
// direction carries small messages, switching per direction like HAProxy's
// splice-auto. Any other reader or writer gets a pooled-buffer copy.
// Connection wrappers that add no framing of their own expose the socket
// underneath with Unwrap and Buffered (the vstream.Unwrapper pair): Copy first
// passes on the bytes the wrapper has buffered, then works on the socket.
//
// Idle connections hold no pipe and no buffer: Copy waits for readability
// through the socket's syscall.RawConn and takes a pipe or buffer from the
// [Pool] only when there are bytes to move. An idle proxied connection costs
// its two sockets and two parked goroutines, not six file descriptors and two
// 1 MiB pipes as with io.Copy.
//
// [Join] relays both directions of a proxied connection with half-close, an
// idle timeout and byte counts.
//
// Typical usage, in a TCP proxy's connection handler:
//
//	up, err := net.Dial("tcp", backend)
//	if err != nil { ... }
//	stats, err := splice.Join(ctx, client, up, splice.JoinOptions{IdleTimeout: 5 * time.Minute})
//	log.Printf("up %d down %d bytes: %v", stats.AToB, stats.BToA, err)
//
// or, one direction at a time:
//
//	n, err := splice.Copy(dst, src)
//
// splice(2) is used on Linux only; elsewhere every copy goes through pooled
// buffers.
package splice
