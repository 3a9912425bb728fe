package splice

import (
	"os"

	"golang.org/x/sys/unix"
)

// pipe is a kernel pipe used to splice between two sockets. Its ends are
// non-blocking and owned by whoever holds the *pipe.
type pipe struct {
	r, w int // read and write ends
	size int // capacity in bytes, as the kernel reports it
}

// newPipe creates a pipe and asks the kernel for size bytes of capacity.
// A refusal (EPERM above fs.pipe-max-size or the user's pipe quota) leaves
// the pipe at the size the kernel gave it.
func newPipe(size int) (*pipe, error) {
	var fds [2]int
	if err := unix.Pipe2(fds[:], unix.O_CLOEXEC|unix.O_NONBLOCK); err != nil {
		return nil, os.NewSyscallError("pipe2", err)
	}
	p := &pipe{r: fds[0], w: fds[1]}
	if n, err := unix.FcntlInt(uintptr(p.w), unix.F_SETPIPE_SZ, size); err == nil {
		p.size = n
	} else if n, err := unix.FcntlInt(uintptr(p.w), unix.F_GETPIPE_SZ, 0); err == nil {
		p.size = n
	} else {
		p.size = 64 << 10 // the kernel's default
	}
	return p, nil
}

func (p *pipe) close() {
	unix.Close(p.r)
	unix.Close(p.w)
}

// spliceFlags: never block (the sockets are non-blocking too; Go's netpoller
// does the waiting) and move pages rather than copy where the kernel can.
const spliceFlags = unix.SPLICE_F_NONBLOCK | unix.SPLICE_F_MOVE
