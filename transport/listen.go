package transport

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"syscall"
	"time"
)

// ListenConfig describes a listening socket. The zero value of each option
// keeps the system's default.
type ListenConfig struct {
	// Network is "tcp", "tcp4", "tcp6" or "unix".
	Network string
	// Address is host:port for TCP, a file path (or "@name" for Linux's
	// abstract namespace) for Unix.
	Address string

	// ReusePort sets SO_REUSEPORT, so several sockets (in one process or
	// many) can listen on the same address and the kernel spreads new
	// connections over them. TCP only.
	ReusePort bool
	// DisableNoDelay turns Nagle's algorithm back on for accepted
	// connections. Go sets TCP_NODELAY on every TCP connection it accepts;
	// with DisableNoDelay the listener clears it again. The listener is then
	// a wrapper around *net.TCPListener (File and SyscallConn still work).
	// TCP only.
	DisableNoDelay bool
	// KeepAlive is the TCP keep-alive period of accepted connections: 0
	// keeps Go's default (15 s), negative disables keep-alives. TCP only.
	KeepAlive time.Duration
	// FastOpen is the TCP_FASTOPEN queue length (pending Fast Open
	// requests); 0 leaves Fast Open off. TCP only.
	FastOpen int
	// DeferAccept sets TCP_DEFER_ACCEPT: accept returns a connection only
	// once the client has sent data, or the time has passed (rounded up to
	// seconds). Only for client-speaks-first protocols: with server-first
	// ones (SMTP, MySQL) clients would wait for the timeout. TCP only.
	DeferAccept time.Duration
	// Backlog is the accept queue length; 0 keeps Go's choice (the system's
	// somaxconn). Set by calling listen(2) again after Go's, which Linux
	// allows to change the backlog of a listening socket.
	Backlog int
	// RecvBuffer and SendBuffer set SO_RCVBUF and SO_SNDBUF on the
	// listening socket, before listen, so accepted connections inherit them
	// and TCP window scaling takes them into account. 0 keeps the default;
	// the kernel doubles the value it is given.
	RecvBuffer, SendBuffer int
}

// Listen opens the listening socket.
//
// For a Unix socket path a stale socket file is removed first: the path is
// removed only if it is a socket and connecting to it is refused
// (ECONNREFUSED), that is, nothing listens there any more. Anything else
// there makes Listen fail with "address already in use". The listener
// removes its socket file when closed.
func (c *ListenConfig) Listen(ctx context.Context) (net.Listener, error) {
	tcp, err := c.check()
	if err != nil {
		return nil, err
	}
	lc := net.ListenConfig{KeepAlive: c.KeepAlive}
	if c.hasSocketOptions() {
		lc.Control = c.control
	}
	if !tcp {
		if err := removeStaleSocket(ctx, c.Address); err != nil {
			return nil, err
		}
	}
	ln, err := lc.Listen(ctx, c.Network, c.Address)
	if err != nil {
		return nil, fmt.Errorf("transport: %w", err)
	}
	if c.Backlog > 0 {
		if err := setBacklog(ln.(syscall.Conn), c.Backlog); err != nil {
			ln.Close()
			return nil, fmt.Errorf("transport: listen %s %s: backlog %d: %w", c.Network, c.Address, c.Backlog, err)
		}
	}
	if tcp && c.DisableNoDelay {
		return &nagleListener{ln.(*net.TCPListener)}, nil
	}
	return ln, nil
}

// check validates the network and the options that go with it, and reports
// whether the network is TCP.
func (c *ListenConfig) check() (tcp bool, err error) {
	switch c.Network {
	case "tcp", "tcp4", "tcp6":
		tcp = true
	case "unix":
		var tcpOnly []string
		if c.ReusePort {
			tcpOnly = append(tcpOnly, "ReusePort")
		}
		if c.DisableNoDelay {
			tcpOnly = append(tcpOnly, "DisableNoDelay")
		}
		if c.KeepAlive != 0 {
			tcpOnly = append(tcpOnly, "KeepAlive")
		}
		if c.FastOpen != 0 {
			tcpOnly = append(tcpOnly, "FastOpen")
		}
		if c.DeferAccept != 0 {
			tcpOnly = append(tcpOnly, "DeferAccept")
		}
		if len(tcpOnly) > 0 {
			return false, fmt.Errorf("transport: listen unix %s: %v apply to TCP only", c.Address, tcpOnly)
		}
	default:
		return false, fmt.Errorf("transport: listen: unsupported network %q (want tcp, tcp4, tcp6 or unix)", c.Network)
	}
	if c.FastOpen < 0 || c.Backlog < 0 || c.RecvBuffer < 0 || c.SendBuffer < 0 || c.DeferAccept < 0 {
		return false, fmt.Errorf("transport: listen %s %s: negative FastOpen, Backlog, DeferAccept or buffer size", c.Network, c.Address)
	}
	return tcp, nil
}

func (c *ListenConfig) hasSocketOptions() bool {
	return c.ReusePort || c.FastOpen > 0 || c.DeferAccept > 0 || c.RecvBuffer > 0 || c.SendBuffer > 0
}

// control sets the options that must be in place before bind and listen.
func (c *ListenConfig) control(network, address string, rc syscall.RawConn) error {
	var opts []sockopt
	if c.ReusePort {
		opts = append(opts, optReusePort)
	}
	if c.RecvBuffer > 0 {
		opts = append(opts, optRecvBuffer(c.RecvBuffer))
	}
	if c.SendBuffer > 0 {
		opts = append(opts, optSendBuffer(c.SendBuffer))
	}
	if c.FastOpen > 0 {
		opts = append(opts, optFastOpen(c.FastOpen))
	}
	if c.DeferAccept > 0 {
		secs := int((c.DeferAccept + time.Second - 1) / time.Second)
		opts = append(opts, optDeferAccept(secs))
	}
	return applyOptions(rc, opts)
}

// removeStaleSocket removes path if it is a socket nobody listens on.
func removeStaleSocket(ctx context.Context, path string) error {
	if path == "" || path[0] == '@' {
		return nil // autobind or the abstract namespace: no file
	}
	fi, err := os.Lstat(path)
	if err != nil || fi.Mode().Type() != fs.ModeSocket {
		return nil // nothing there, or not ours to remove: bind will say
	}
	var d net.Dialer
	dctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	conn, err := d.DialContext(dctx, "unix", path)
	if err == nil {
		conn.Close()
		return nil // alive: bind fails with EADDRINUSE
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		return nil
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("transport: removing stale socket: %w", err)
	}
	return nil
}

// nagleListener clears TCP_NODELAY, which Go sets, on accepted connections.
type nagleListener struct {
	*net.TCPListener
}

// Accept accepts a connection with Nagle's algorithm on.
func (l *nagleListener) Accept() (net.Conn, error) {
	c, err := l.AcceptTCP()
	if err != nil {
		return nil, err
	}
	return c, nil
}

// AcceptTCP accepts a connection with Nagle's algorithm on.
func (l *nagleListener) AcceptTCP() (*net.TCPConn, error) {
	c, err := l.TCPListener.AcceptTCP()
	if err != nil {
		return nil, err
	}
	if err := c.SetNoDelay(false); err != nil {
		c.Close()
		return nil, fmt.Errorf("transport: clearing TCP_NODELAY: %w", err)
	}
	return c, nil
}

// Unwrap returns the *net.TCPListener underneath.
func (l *nagleListener) Unwrap() net.Listener { return l.TCPListener }

var _ net.Listener = (*nagleListener)(nil)
