package transport

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"syscall"
	"time"
)

// DefaultDialTimeout bounds a dial when Dialer.Timeout is 0.
const DefaultDialTimeout = 10 * time.Second

// Dialer opens outgoing TCP and Unix stream connections with the socket
// options a proxy sets on its upstream side. The zero value is ready to use.
type Dialer struct {
	// Timeout bounds connection set-up, including name resolution: 0 means
	// DefaultDialTimeout, negative means no bound other than the context's.
	Timeout time.Duration
	// Source is the local address to bind before connecting: an IP address
	// ("10.0.0.2"), or an IP address and port ("10.0.0.2:4000") for TCP; a
	// path for Unix (an IP address is ignored there). Empty lets the system choose. For TCP with no port (or
	// port 0), IP_BIND_ADDRESS_NO_PORT is set, so the port is chosen at
	// connect time and the same source port can serve many destinations.
	Source string
	// DisableNoDelay turns Nagle's algorithm on (Go sets TCP_NODELAY by
	// default). TCP only: DisableNoDelay, KeepAlive and FastOpen are
	// ignored for Unix sockets.
	DisableNoDelay bool
	// KeepAlive is the keep-alive period: 0 keeps Go's default (15 s),
	// negative disables keep-alives. TCP only.
	KeepAlive time.Duration
	// FastOpen sets TCP_FASTOPEN_CONNECT: the SYN carries the first bytes
	// written once the server has handed out a Fast Open cookie. The
	// connection then "connects" at once and the handshake happens on the
	// first write, so errors reaching the server show up there. TCP only.
	FastOpen bool
	// RecvBuffer and SendBuffer set SO_RCVBUF and SO_SNDBUF before connect;
	// 0 keeps the default.
	RecvBuffer, SendBuffer int
}

// DialContext connects to addr on network ("tcp", "tcp4", "tcp6" or
// "unix"). Errors from a cancelled or expired ctx match context.Canceled or
// context.DeadlineExceeded with errors.Is.
func (d *Dialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	nd := net.Dialer{KeepAlive: d.KeepAlive}
	switch {
	case d.Timeout == 0:
		nd.Timeout = DefaultDialTimeout
	case d.Timeout > 0:
		nd.Timeout = d.Timeout
	}
	var opts []sockopt
	switch network {
	case "tcp", "tcp4", "tcp6":
		if d.Source != "" {
			la, err := parseSource(d.Source)
			if err != nil {
				return nil, fmt.Errorf("transport: dial %s %s: source: %w", network, addr, err)
			}
			nd.LocalAddr = la
			if la.Port == 0 {
				opts = append(opts, optBindNoPort)
			}
		}
		if d.FastOpen {
			opts = append(opts, optFastOpenConnect)
		}
	case "unix":
		// The TCP options are ignored, so that one Dialer serves a
		// service whose upstreams are of both kinds; so is an IP Source.
		nd.KeepAlive = -1
		if d.Source != "" && strings.Contains(d.Source, "/") {
			nd.LocalAddr = &net.UnixAddr{Net: "unix", Name: d.Source}
		}
	default:
		return nil, fmt.Errorf("transport: dial: unsupported network %q (want tcp, tcp4, tcp6 or unix)", network)
	}
	if d.RecvBuffer < 0 || d.SendBuffer < 0 {
		return nil, fmt.Errorf("transport: dial %s %s: negative buffer size", network, addr)
	}
	if d.RecvBuffer > 0 {
		opts = append(opts, optRecvBuffer(d.RecvBuffer))
	}
	if d.SendBuffer > 0 {
		opts = append(opts, optSendBuffer(d.SendBuffer))
	}
	if len(opts) > 0 {
		nd.Control = func(_, _ string, rc syscall.RawConn) error { return applyOptions(rc, opts) }
	}
	c, err := nd.DialContext(ctx, network, addr)
	if err != nil {
		return nil, fmt.Errorf("transport: %w", err)
	}
	if tc, ok := c.(*net.TCPConn); ok && d.DisableNoDelay {
		if err := tc.SetNoDelay(false); err != nil {
			c.Close()
			return nil, fmt.Errorf("transport: dial %s %s: clearing TCP_NODELAY: %w", network, addr, err)
		}
	}
	return c, nil
}

// parseSource parses "ip" or "ip:port" without name resolution.
func parseSource(s string) (*net.TCPAddr, error) {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return net.TCPAddrFromAddrPort(ap), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return nil, fmt.Errorf("want an IP address or IP:port, got %q", s)
	}
	return net.TCPAddrFromAddrPort(netip.AddrPortFrom(a, 0)), nil
}
