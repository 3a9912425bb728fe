// Package localerr tells a failure of this process or host apart from a
// failure of the peer it was talking to: a socket(2), accept(2), pipe(2)
// or connect(2) that failed because sluice ran out of descriptors, memory,
// socket buffers or local ports is sluice's own fault, and must never be
// held against an upstream (passive health, failover) or a client.
package localerr

import (
	"errors"
	"syscall"
)

// Is reports whether err is the lack of a local resource: descriptors of
// the process (EMFILE) or the system (ENFILE), socket buffers (ENOBUFS),
// kernel memory (ENOMEM), or a free local address for a connection
// (EADDRNOTAVAIL: the ephemeral ports are used up, or the configured
// source address is not local).
func Is(err error) bool {
	var errno syscall.Errno
	if !errors.As(err, &errno) {
		return false
	}
	switch errno {
	case syscall.EMFILE, syscall.ENFILE, syscall.ENOBUFS, syscall.ENOMEM, syscall.EADDRNOTAVAIL:
		return true
	}
	return false
}
