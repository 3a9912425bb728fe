package transport

import (
	"context"
	"errors"
	"net"
	"strings"
)

// Addr is a stream socket address as sluice writes it in configs, metrics
// and logs: "host:port" for TCP, "unix:/path" for a Unix socket.
type Addr struct {
	// Network is "tcp" or "unix".
	Network string
	// Address is host:port for TCP, the socket's path for Unix.
	Address string
}

// errEmptyUnixPath is ParseAddr's error for "unix:" alone.
var errEmptyUnixPath = errors.New("transport: empty unix socket path")

// ParseAddr reads "unix:/path" as a Unix socket and anything else as a TCP
// host:port. It neither resolves nor checks host:port (net.SplitHostPort
// and the dial do); it fails only for "unix:" without a path. Every part of
// sluice that takes an address (tcpproxy, httpproxy peers, health checks,
// the config validator) reads it here.
func ParseAddr(s string) (Addr, error) {
	if rest, ok := strings.CutPrefix(s, "unix:"); ok {
		if rest == "" {
			return Addr{}, errEmptyUnixPath
		}
		return Addr{Network: "unix", Address: rest}, nil
	}
	return Addr{Network: "tcp", Address: s}, nil
}

// String writes a in ParseAddr's form.
func (a Addr) String() string {
	if a.Network == "unix" {
		return "unix:" + a.Address
	}
	return a.Address
}

// Dial connects to addr in ParseAddr's form ("host:port" or "unix:/path").
func (d *Dialer) Dial(ctx context.Context, addr string) (net.Conn, error) {
	a, err := ParseAddr(addr)
	if err != nil {
		return nil, err
	}
	return d.DialContext(ctx, a.Network, a.Address)
}

// Probe is an active health check in ParseAddr's form: a connect to addr
// with a zero Dialer (ctx bounds it), closed at once.
func Probe(ctx context.Context, addr string) error {
	d := Dialer{Timeout: -1}
	c, err := d.Dial(ctx, addr)
	if err != nil {
		return err
	}
	return c.Close()
}
