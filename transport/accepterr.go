package transport

import (
	"errors"
	"syscall"

	"github.com/sluice-proxy/sluice/internal/localerr"
)

// temporaryAcceptError reports whether an accept error is worth retrying
// after a pause: a lack of descriptors, buffers or memory; one of the errors
// accept(2) on Linux passes on from a pending connection, which its manual
// says to treat like EAGAIN; or an error that says of itself that it is
// temporary.
func temporaryAcceptError(err error) bool {
	if localerr.Is(err) {
		return true
	}
	var errno syscall.Errno
	if errors.As(err, &errno) {
		switch errno {
		case syscall.ECONNABORTED, syscall.EINTR, syscall.EAGAIN, syscall.EPERM,
			syscall.ENETDOWN, syscall.EPROTO, syscall.ENOPROTOOPT, syscall.EHOSTDOWN,
			syscall.EHOSTUNREACH, syscall.EOPNOTSUPP, syscall.ENETUNREACH:
			return true
		}
	}
	var t interface{ Temporary() bool }
	return errors.As(err, &t) && t.Temporary()
}
