package vstream

import (
	"context"
	"fmt"
	"net"
)

// Dialer connects to an upstream by address. It is what an upstream dial
// goes through, so that an upstream can be virtual: a tunnel, a stream of a
// multiplexed session (vmux, QUIC), or an in-process service (Listener).
// What addr means is up to the Dialer.
type Dialer interface {
	DialStream(ctx context.Context, addr string) (Stream, error)
}

// DialerFunc is a function that is a Dialer.
type DialerFunc func(ctx context.Context, addr string) (Stream, error)

// DialStream calls f.
func (f DialerFunc) DialStream(ctx context.Context, addr string) (Stream, error) {
	return f(ctx, addr)
}

// DialFunc adapts d to the shape of a dial function that returns a
// net.Conn, such as lb.DialFunc and tcpproxy.Config.Dial: the result is
// assignable to either without conversion.
func DialFunc(d Dialer) func(ctx context.Context, addr string) (net.Conn, error) {
	return func(ctx context.Context, addr string) (net.Conn, error) {
		s, err := d.DialStream(ctx, addr)
		if err != nil {
			return nil, err
		}
		return s, nil
	}
}

// FromDialFunc adapts a function that dials net.Conns (net.Dialer's
// DialContext bound to a network, lb.DialFunc) to a Dialer. A connection
// that has no CloseWrite is an error: it cannot pass a half-close on.
func FromDialFunc(dial func(ctx context.Context, addr string) (net.Conn, error)) Dialer {
	return DialerFunc(func(ctx context.Context, addr string) (Stream, error) {
		c, err := dial(ctx, addr)
		if err != nil {
			return nil, err
		}
		s, ok := c.(Stream)
		if !ok {
			c.Close()
			return nil, fmt.Errorf("vstream: dial %s: %T cannot half-close", addr, c)
		}
		return s, nil
	})
}

var _ Dialer = DialerFunc(nil)
