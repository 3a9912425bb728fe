//go:build !linux

package fdpoll

import (
	"net"
)

// Poller is not available on this platform; New returns ErrUnsupported.
type Poller struct{}

// Conn is not available on this platform.
type Conn struct{ net.Conn }

// New returns ErrUnsupported.
func New() (*Poller, error) { return nil, ErrUnsupported }

// Close does nothing.
func (p *Poller) Close() error { return nil }

// Wrap returns ErrUnsupported.
func (p *Poller) Wrap(c net.Conn) (*Conn, error) { return nil, ErrUnsupported }
