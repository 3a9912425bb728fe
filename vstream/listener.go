package vstream

import (
	"context"
	"fmt"
	"net"
	"sync"
)

// Listener is a net.Listener fed by producers instead of a socket: a vmux or
// QUIC server, a tunnel, or an in-process caller hands it streams with
// Deliver, and whoever serves the listener (an accept loop written for
// sockets, such as transport.Server) gets them from Accept. One accept loop
// thus serves real sockets and virtual streams alike.
//
// Deliver blocks while the queue is full, so producers slow down to the pace
// of the accept loop instead of piling streams up. Close makes Accept return
// net.ErrClosed and Deliver fail; streams still queued are closed.
//
// A Listener is also a Dialer: DialStream makes a Pipe, delivers one end and
// returns the other, which is how in-process clients reach a service that
// serves the Listener.
type Listener struct {
	addr  net.Addr
	queue chan Stream
	done  chan struct{}
	once  sync.Once
}

// NewListener returns an open Listener. addr is what Addr returns (nil means
// Addr{Net: "vstream", Name: "vstream"}). backlog is how many delivered
// streams may wait for Accept; with 0, Deliver returns only once an Accept
// has taken its stream.
func NewListener(addr net.Addr, backlog int) *Listener {
	if addr == nil {
		addr = Addr{Net: "vstream", Name: "vstream"}
	}
	return &Listener{addr: addr, queue: make(chan Stream, max(backlog, 0)), done: make(chan struct{})}
}

// errClosed is the error Accept, Deliver and Close return after Close.
func (l *Listener) errClosed(op string) error {
	return &net.OpError{Op: op, Net: l.addr.Network(), Addr: l.addr, Err: net.ErrClosed}
}

// Accept waits for a delivered stream and returns it. After Close it returns
// an error matching net.ErrClosed.
func (l *Listener) Accept() (net.Conn, error) {
	s, err := l.AcceptStream(context.Background())
	if err != nil {
		return nil, err
	}
	return s, nil
}

// AcceptStream is Accept with a context and a Stream result.
func (l *Listener) AcceptStream(ctx context.Context) (Stream, error) {
	select {
	case <-l.done:
		return nil, l.errClosed("accept")
	default:
	}
	select {
	case s := <-l.queue:
		select {
		case <-l.done:
			// Close raced with this Accept; the listener owns s and
			// closes it, as it does every stream still queued.
			s.Close()
			return nil, l.errClosed("accept")
		default:
			return s, nil
		}
	case <-l.done:
		return nil, l.errClosed("accept")
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Deliver hands s to the listener's accept loop. It blocks while the
// backlog is full, until ctx ends or the listener is closed.
//
// When Deliver returns nil the listener owns s: it is returned by an
// Accept, or closed by the listener if Close came first. When it returns an
// error (the listener's closed error, matching net.ErrClosed, or ctx's) s
// was not taken and the caller still owns it.
func (l *Listener) Deliver(ctx context.Context, s Stream) error {
	if s == nil {
		return fmt.Errorf("vstream: deliver: nil stream")
	}
	select {
	case <-l.done:
		return l.errClosed("deliver")
	default:
	}
	select {
	case l.queue <- s:
		select {
		case <-l.done:
			// Close may have drained the queue before s went in.
			l.drain()
		default:
		}
		return nil
	case <-l.done:
		return l.errClosed("deliver")
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close stops the listener: pending and later Accepts fail, Deliver fails,
// and the streams still queued are closed. A second Close returns an error
// matching net.ErrClosed.
func (l *Listener) Close() error {
	first := false
	l.once.Do(func() {
		first = true
		close(l.done)
	})
	if !first {
		return l.errClosed("close")
	}
	l.drain()
	return nil
}

// drain closes every queued stream.
func (l *Listener) drain() {
	for {
		select {
		case s := <-l.queue:
			s.Close()
		default:
			return
		}
	}
}

// Done returns a channel that is closed when the listener is closed, for
// producers that want to stop early.
func (l *Listener) Done() <-chan struct{} { return l.done }

// Addr returns the address given to NewListener.
func (l *Listener) Addr() net.Addr { return l.addr }

// DialStream connects to the service serving l: it makes a Pipe, delivers
// one end (blocking like Deliver) and returns the other. addr names the
// target in the returned stream's RemoteAddr; it is not otherwise used.
// The delivered end's LocalAddr is l.Addr().
func (l *Listener) DialStream(ctx context.Context, addr string) (Stream, error) {
	client := Addr{Net: "pipe", Name: "client"}
	remote := Addr{Net: "pipe", Name: addr}
	if addr == "" {
		remote.Name = l.addr.String()
	}
	c, s := NewPipe(PipeConfig{Addr1: client, Addr2: remote})
	// The served end sees the listener's address as its own.
	s.(*pipeEnd).local = l.addr
	s.(*pipeEnd).digest = NewDigest("", s)
	if err := l.Deliver(ctx, s); err != nil {
		c.Close()
		s.Close()
		return nil, fmt.Errorf("vstream: dial %s: %w", addr, err)
	}
	return c, nil
}

var (
	_ net.Listener = (*Listener)(nil)
	_ Dialer       = (*Listener)(nil)
)
