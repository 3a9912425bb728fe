package transport

import (
	"fmt"
	"syscall"

	"golang.org/x/sys/unix"
)

// sockopt is one integer socket option.
type sockopt struct {
	name       string
	level, opt int
	value      int
	bestEffort bool // failure is not an error
}

var optReusePort = sockopt{name: "SO_REUSEPORT", level: unix.SOL_SOCKET, opt: unix.SO_REUSEPORT, value: 1}

func optRecvBuffer(n int) sockopt {
	return sockopt{name: "SO_RCVBUF", level: unix.SOL_SOCKET, opt: unix.SO_RCVBUF, value: n}
}

func optSendBuffer(n int) sockopt {
	return sockopt{name: "SO_SNDBUF", level: unix.SOL_SOCKET, opt: unix.SO_SNDBUF, value: n}
}

func optFastOpen(qlen int) sockopt {
	return sockopt{name: "TCP_FASTOPEN", level: unix.IPPROTO_TCP, opt: unix.TCP_FASTOPEN, value: qlen}
}

func optDeferAccept(secs int) sockopt {
	return sockopt{name: "TCP_DEFER_ACCEPT", level: unix.IPPROTO_TCP, opt: unix.TCP_DEFER_ACCEPT, value: secs}
}

var optFastOpenConnect = sockopt{name: "TCP_FASTOPEN_CONNECT", level: unix.IPPROTO_TCP, opt: unix.TCP_FASTOPEN_CONNECT, value: 1}

// optBindNoPort defers the choice of an ephemeral source port from bind to
// connect, so a bound source address does not use up a port per connection
// regardless of destination. Older kernels lack it; that is no error.
var optBindNoPort = sockopt{name: "IP_BIND_ADDRESS_NO_PORT", level: unix.IPPROTO_IP, opt: unix.IP_BIND_ADDRESS_NO_PORT, value: 1, bestEffort: true}

// applyOptions sets opts on the socket behind rc.
func applyOptions(rc syscall.RawConn, opts []sockopt) error {
	var serr error
	err := rc.Control(func(fd uintptr) {
		for _, o := range opts {
			if err := unix.SetsockoptInt(int(fd), o.level, o.opt, o.value); err != nil && !o.bestEffort {
				serr = fmt.Errorf("transport: setsockopt %s=%d: %w", o.name, o.value, err)
				return
			}
		}
	})
	if err != nil {
		return fmt.Errorf("transport: socket control: %w", err)
	}
	return serr
}

// setBacklog calls listen(2) again on a listening socket with a new backlog.
func setBacklog(c syscall.Conn, n int) error {
	rc, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var lerr error
	if err := rc.Control(func(fd uintptr) { lerr = unix.Listen(int(fd), n) }); err != nil {
		return err
	}
	return lerr
}
