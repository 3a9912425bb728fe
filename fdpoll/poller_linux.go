package fdpoll

import (
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"
)

// batch is the most readiness events taken from the kernel at once.
const batch = 256

// Poller is an epoll set serving the Conns wrapped by it. One goroutine
// waits on the set, parked in Go's netpoller, and wakes the Conns' readers
// and writers in the order their sockets became ready. A Poller is safe for
// concurrent use; one per process is enough.
type Poller struct {
	epfd int
	epf  *os.File // epfd, registered with Go's netpoller

	mu    sync.Mutex
	conns []*Conn  // by slot; nil where free
	free  []uint32 // free slots
	gen   uint32   // generation stamped on the next registration

	closed atomic.Bool
	done   chan struct{}

	events []unix.EpollEvent // owned by the loop goroutine
	woken  []*waiter         // owned by the loop goroutine
}

// New starts a Poller.
func New() (*Poller, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("epoll_create1", err)
	}
	// The set is itself pollable: non-blocking and registered with Go's
	// netpoller, its goroutine parks like one waiting on a socket.
	if err := unix.SetNonblock(epfd, true); err != nil {
		unix.Close(epfd)
		return nil, os.NewSyscallError("fcntl", err)
	}
	p := &Poller{
		epfd:   epfd,
		epf:    os.NewFile(uintptr(epfd), "fdpoll"),
		done:   make(chan struct{}),
		events: make([]unix.EpollEvent, batch),
	}
	rc, err := p.epf.SyscallConn()
	if err != nil {
		p.epf.Close()
		return nil, err
	}
	go p.loop(rc)
	return p, nil
}

// Close stops the Poller. The Conns still open fail their reads and writes
// with net.ErrClosed from then on; they must still be closed to release
// their descriptors.
func (p *Poller) Close() error {
	if p.closed.Swap(true) {
		return nil
	}
	err := p.epf.Close() // wakes the loop, which then returns
	<-p.done
	p.mu.Lock()
	conns := p.conns
	p.conns = nil
	p.mu.Unlock()
	for _, c := range conns {
		if c != nil {
			c.down.Store(true)
			c.r.interrupt()
			c.w.interrupt()
		}
	}
	return err
}

// loop is the Poller's goroutine: it takes the ready events from the set
// until it is empty, then parks in Go's netpoller until the set is
// readable again.
func (p *Poller) loop(rc syscall.RawConn) {
	defer close(p.done)
	rc.Read(func(uintptr) bool {
		for !p.closed.Load() {
			n, err := unix.EpollWait(p.epfd, p.events, 0)
			if err == unix.EINTR {
				continue
			}
			if err != nil || n <= 0 {
				return false
			}
			p.dispatch(p.events[:n])
			if n < len(p.events) {
				return false
			}
		}
		return true
	})
}

// dispatch records each event on its Conn and wakes the goroutines parked
// on them, oldest event first.
func (p *Poller) dispatch(evs []unix.EpollEvent) {
	woken := p.woken[:0]
	p.mu.Lock()
	for i := range evs {
		ev := &evs[i]
		slot := int(ev.Fd)
		if slot < 0 || slot >= len(p.conns) {
			continue
		}
		c := p.conns[slot]
		if c == nil || c.gen != uint32(ev.Pad) {
			continue // a stale event for a slot closed and reused
		}
		e := ev.Events
		if e&(unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
			c.hup.Store(true)
		}
		if e&(unix.EPOLLIN|unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0 && c.r.post() {
			woken = append(woken, &c.r)
		}
		if e&(unix.EPOLLOUT|unix.EPOLLHUP|unix.EPOLLERR) != 0 && c.w.post() {
			woken = append(woken, &c.w)
		}
	}
	p.mu.Unlock()
	if len(woken) > 0 {
		// The Go scheduler runs the goroutine woken last first (it takes
		// the "run next" slot) and the others in the order they were
		// woken: waking the first one last keeps the whole batch in order.
		for _, w := range woken[1:] {
			w.wake()
		}
		woken[0].wake()
		clear(woken)
	}
	p.woken = woken[:0]
}

// register adds c's socket to the set.
func (p *Poller) register(c *Conn) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed.Load() {
		return ErrPollerClosed
	}
	var slot uint32
	if n := len(p.free); n > 0 {
		slot = p.free[n-1]
		p.free = p.free[:n-1]
	} else {
		slot = uint32(len(p.conns))
		p.conns = append(p.conns, nil)
	}
	p.gen++
	c.slot, c.gen = slot, p.gen
	ev := unix.EpollEvent{
		Events: unix.EPOLLIN | unix.EPOLLOUT | unix.EPOLLRDHUP | unix.EPOLLET,
		Fd:     int32(slot),
		Pad:    int32(c.gen),
	}
	if err := unix.EpollCtl(p.epfd, unix.EPOLL_CTL_ADD, c.fd, &ev); err != nil {
		p.free = append(p.free, slot)
		return os.NewSyscallError("epoll_ctl", err)
	}
	p.conns[slot] = c
	return nil
}

// unregister removes c's socket from the set; c's descriptor is still open.
func (p *Poller) unregister(c *Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if int(c.slot) >= len(p.conns) || p.conns[c.slot] != c {
		return // the Poller closed first
	}
	p.conns[c.slot] = nil
	p.free = append(p.free, c.slot)
	if !p.closed.Load() {
		unix.EpollCtl(p.epfd, unix.EPOLL_CTL_DEL, c.fd, nil)
	}
}

// Wrap takes over the socket of c, a *net.TCPConn or a SOCK_STREAM
// *net.UnixConn: it duplicates the descriptor into a Conn served by p and
// closes c. Any other connection is returned with ErrNotSocket and left as
// it is.
func (p *Poller) Wrap(c net.Conn) (*Conn, error) {
	switch c := c.(type) {
	case *net.TCPConn:
	case *net.UnixConn:
		if c.LocalAddr().Network() != "unix" { // unixgram, unixpacket
			return nil, ErrNotSocket
		}
	default:
		return nil, ErrNotSocket
	}
	rc, err := c.(syscall.Conn).SyscallConn()
	if err != nil {
		return nil, err
	}
	fd := -1
	var derr error
	if err := rc.Control(func(s uintptr) {
		fd, derr = unix.FcntlInt(s, unix.F_DUPFD_CLOEXEC, 0)
	}); err != nil {
		return nil, err
	}
	if derr != nil {
		return nil, os.NewSyscallError("fcntl", derr)
	}
	nc, err := p.newConn(fd, c.LocalAddr(), c.RemoteAddr())
	if err != nil {
		unix.Close(fd)
		return nil, err
	}
	c.Close()
	return nc, nil
}

// newConn serves fd, a connected stream socket, from p.
func (p *Poller) newConn(fd int, laddr, raddr net.Addr) (*Conn, error) {
	if err := unix.SetNonblock(fd, true); err != nil {
		return nil, os.NewSyscallError("fcntl", err)
	}
	c := &Conn{p: p, fd: fd, laddr: laddr, raddr: raddr}
	c.refs.Store(1)
	c.r.init()
	c.w.init()
	if err := p.register(c); err != nil {
		return nil, err
	}
	return c, nil
}
