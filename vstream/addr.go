package vstream

import "net"

// Addr is a net.Addr for streams that have no socket address: in-memory
// pipes, listeners fed by producers, in-process services.
type Addr struct {
	// Net is what Network returns, e.g. "pipe" or "vstream".
	Net string
	// Name is what String returns.
	Name string
}

// Network returns a.Net.
func (a Addr) Network() string { return a.Net }

// String returns a.Name.
func (a Addr) String() string { return a.Name }

var _ net.Addr = Addr{}
