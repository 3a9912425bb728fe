//go:build !linux

package transport

import (
	"errors"
	"syscall"
)

// sockopt is one socket option; none is supported off Linux.
type sockopt struct{ name string }

var (
	optReusePort       = sockopt{"SO_REUSEPORT"}
	optFastOpenConnect = sockopt{"TCP_FASTOPEN_CONNECT"}
	optBindNoPort      = sockopt{"IP_BIND_ADDRESS_NO_PORT"}
)

func optRecvBuffer(int) sockopt  { return sockopt{"SO_RCVBUF"} }
func optSendBuffer(int) sockopt  { return sockopt{"SO_SNDBUF"} }
func optFastOpen(int) sockopt    { return sockopt{"TCP_FASTOPEN"} }
func optDeferAccept(int) sockopt { return sockopt{"TCP_DEFER_ACCEPT"} }

var errNoSockopts = errors.New("transport: socket options are implemented for Linux only")

func applyOptions(_ syscall.RawConn, opts []sockopt) error {
	for _, o := range opts {
		if o.name != optBindNoPort.name {
			return errNoSockopts
		}
	}
	return nil
}

func setBacklog(syscall.Conn, int) error { return errNoSockopts }
