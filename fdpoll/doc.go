// Package fdpoll serves stream sockets from an epoll set of its own instead
// of Go's netpoller, for proxies that relay many small messages.
//
// Go's netpoller wakes the goroutines of one readiness batch in the reverse
// of the order their sockets became ready, and it does not pass EPOLLRDHUP
// on, so a reader that has drained a socket must read once more and find
// nothing (EAGAIN) before it may sleep: a pending end of stream would be
// missed otherwise. A [Poller] keeps its own edge-triggered epoll set,
// registered in Go's netpoller as a single pollable descriptor, and
//
//   - lets the goroutines waiting on its sockets take turns waiting in the
//     set (leader/follower): a lone waiter parks in Go's netpoller as it
//     would on its own socket, and the leader wakes the others in the order
//     their sockets became ready, so under load the oldest waiter is served
//     first (the tail of the latency distribution is what this buys);
//   - records EPOLLRDHUP, so a read that returns less than asked, with no
//     end of stream pending, ends the reader's turn without a second read;
//   - reads and writes with raw system calls on a non-blocking descriptor.
//
// A [Conn] is a net.Conn with deadlines, half-close (CloseWrite) and a
// syscall.RawConn, so splice(2) and socket options still work on it. It is
// made from an accepted or dialed *net.TCPConn or *net.UnixConn by
// [Poller.Wrap], which takes the descriptor over.
//
//	p, err := fdpoll.New()
//	...
//	defer p.Close()
//	c, err := p.Wrap(tcpConn) // tcpConn is closed; c owns the socket now
//
// fdpoll is Linux-only; elsewhere [New] returns [ErrUnsupported].
package fdpoll
