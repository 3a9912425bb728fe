package transport

import (
	"errors"
	"syscall"

	"golang.org/x/sys/unix"
)

// spareFD is a descriptor kept open so that, when the process runs out of
// descriptors, one can be freed to accept a queued connection and close it
// at once: the client then learns in a moment that it was refused, where it
// would otherwise wait in the listen queue until its own timeout.
type spareFD struct{ fd int }

// openSpare opens the spare descriptor; a failure leaves the Server
// without one (it then only backs off, as on other systems).
func openSpare() spareFD {
	fd, err := unix.Open("/dev/null", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return spareFD{fd: -1}
	}
	return spareFD{fd: fd}
}

// restore opens the spare descriptor again if a shortage took it: another
// goroutine can take the slot shed frees before shed opens the spare again.
func (s *spareFD) restore() {
	if s.fd < 0 {
		*s = openSpare()
	}
}

// close releases the spare descriptor.
func (s *spareFD) close() {
	if s.fd >= 0 {
		unix.Close(s.fd)
		s.fd = -1
	}
}

// shed is called after accept failed with err. When err is a lack of
// descriptors and ln is a socket, it frees the spare descriptor, accepts one
// queued connection without blocking, closes it and opens the spare again.
// It reports whether a connection was shed.
func (s *spareFD) shed(ln any, err error) bool {
	if s.fd < 0 || !(errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE)) {
		return false
	}
	sc, ok := ln.(syscall.Conn)
	if !ok {
		return false
	}
	rc, rerr := sc.SyscallConn()
	if rerr != nil {
		return false
	}
	s.close()
	shed := false
	rc.Control(func(fd uintptr) {
		// The listener is non-blocking: an empty queue gives EAGAIN.
		nfd, _, aerr := unix.Accept4(int(fd), unix.SOCK_CLOEXEC)
		if aerr == nil {
			unix.Close(nfd)
			shed = true
		}
	})
	*s = openSpare()
	return shed
}
