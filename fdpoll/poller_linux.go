package fdpoll

import (
	"net"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"
)

// batch is the most readiness events taken from the kernel at once.
const batch = 256

// kickTag marks the eventfd's events in the set.
const kickTag = -1

// Poller serves the Conns wrapped by it from epoll sets of its own: one per
// CPU the Go scheduler uses (GOMAXPROCS when New runs), each taking every
// n-th connection, so that waiters on different sets share no lock. A
// Poller is safe for concurrent use; one per process is enough.
type Poller struct {
	sets   []*set
	next   atomic.Uint32
	closed atomic.Bool
}

// New starts a Poller with GOMAXPROCS epoll sets.
func New() (*Poller, error) {
	n := runtime.GOMAXPROCS(0)
	p := &Poller{sets: make([]*set, 0, n)}
	for i := 0; i < n; i++ {
		s, err := newSet()
		if err != nil {
			p.Close()
			return nil, err
		}
		p.sets = append(p.sets, s)
	}
	return p, nil
}

// Close stops the Poller. The Conns still open fail their reads and writes
// with net.ErrClosed from then on; they must still be closed to release
// their descriptors.
func (p *Poller) Close() error {
	if p.closed.Swap(true) {
		return nil
	}
	var first error
	for _, s := range p.sets {
		if err := s.close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// set is one epoll set and the Conns it serves. The goroutines waiting on
// its Conns take turns waiting on the set (see waiter.wait), parked in Go's
// netpoller, and wake each other in the order their sockets became ready.
type set struct {
	epfd   int
	epf    *os.File // epfd, registered with Go's netpoller
	rc     syscall.RawConn
	wakefd int // eventfd in the set: kicks the leader out of its wait

	leader  atomic.Bool            // a goroutine is waiting in the set
	handoff atomic.Pointer[waiter] // a follower woken to lead next, until it runs
	closed  atomic.Bool

	mu        sync.Mutex
	conns     []*Conn   // by slot; nil where free
	free      []uint32  // free slots
	gen       uint32    // generation stamped on the next registration
	followers []*waiter // goroutines parked until an edge or their turn to lead

	// Owned by the leader.
	events []unix.EpollEvent
	woken  []*waiter
	lw     *waiter // the leader's waiter and the seq it waits past
	ls     uint32
	leadFn func(uintptr) bool // p.leadStep, bound once
}

// newSet starts an epoll set.
func newSet() (*set, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("epoll_create1", err)
	}
	// The set is itself pollable: non-blocking and registered with Go's
	// netpoller, its leader parks like a goroutine waiting on a socket.
	if err := unix.SetNonblock(epfd, true); err != nil {
		unix.Close(epfd)
		return nil, os.NewSyscallError("fcntl", err)
	}
	p := &set{
		epfd:   epfd,
		epf:    os.NewFile(uintptr(epfd), "fdpoll"),
		events: make([]unix.EpollEvent, batch),
	}
	p.leadFn = p.leadStep
	if p.rc, err = p.epf.SyscallConn(); err != nil {
		p.epf.Close()
		return nil, err
	}
	if p.wakefd, err = unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC); err != nil {
		p.epf.Close()
		return nil, os.NewSyscallError("eventfd", err)
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLET, Fd: kickTag}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, p.wakefd, &ev); err != nil {
		unix.Close(p.wakefd)
		p.epf.Close()
		return nil, os.NewSyscallError("epoll_ctl", err)
	}
	return p, nil
}

// close stops the set; its Conns fail from then on.
func (p *set) close() error {
	p.mu.Lock()
	if p.closed.Swap(true) {
		p.mu.Unlock()
		return nil
	}
	unix.Close(p.wakefd)
	conns := p.conns
	p.conns = nil
	p.mu.Unlock()
	err := p.epf.Close() // a leader waiting in the set returns
	for _, c := range conns {
		if c != nil {
			c.down.Store(true)
			c.r.interrupt()
			c.w.interrupt()
		}
	}
	return err
}

// kick makes the leader's wait in the set return.
func (p *set) kick() {
	p.mu.Lock()
	if !p.closed.Load() {
		one := [8]byte{1}
		unix.Write(p.wakefd, one[:])
	}
	p.mu.Unlock()
}

// lead waits in the set for w's own event (seq past s), handing every other
// event to its Conn's waiters meanwhile. The caller holds p.leader.
func (p *set) lead(w *waiter, s uint32) {
	w.leading.Store(true)
	p.lw, p.ls = w, s
	p.rc.Read(p.leadFn)
	p.lw = nil
	w.leading.Store(false)
}

// leadStep takes what is ready until the leader's own event has come
// (true) or nothing is left (false: park in Go's netpoller until the set is
// readable).
func (p *set) leadStep(uintptr) bool {
	for {
		if p.lw.done(p.ls) {
			return true
		}
		n, err := unix.EpollWait(p.epfd, p.events, 0)
		if err == unix.EINTR {
			continue
		}
		if err != nil || n <= 0 {
			return false
		}
		p.dispatch(p.events[:n])
	}
}

// promote wakes a parked follower to lead, if any and if none is on its way
// already. Followers not parked (about to park, or just woken) look at
// p.leader themselves.
func (p *set) promote() {
	if p.handoff.Load() != nil {
		return
	}
	p.mu.Lock()
	f := p.parkedFollower()
	p.mu.Unlock()
	if f != nil {
		f.ch <- struct{}{}
	}
}

// parkedFollower takes a parked follower's token slot (the caller must send
// it the token), or returns nil. p.mu is held.
func (p *set) parkedFollower() *waiter {
	for _, x := range p.followers {
		if x.parked.Swap(false) {
			return x
		}
	}
	return nil
}

// follow lists w among the goroutines parked for an edge or a turn to lead.
func (p *set) follow(w *waiter) {
	p.mu.Lock()
	w.fidx = len(p.followers)
	p.followers = append(p.followers, w)
	p.mu.Unlock()
}

// unfollow takes w off the list.
func (p *set) unfollow(w *waiter) {
	p.mu.Lock()
	if i := w.fidx; i >= 0 {
		last := len(p.followers) - 1
		p.followers[i] = p.followers[last]
		p.followers[i].fidx = i
		p.followers[last] = nil
		p.followers = p.followers[:last]
		w.fidx = -1
	}
	p.mu.Unlock()
}

// dispatch records each event on its Conn and wakes the goroutines parked
// on them, oldest event first.
func (p *set) dispatch(evs []unix.EpollEvent) {
	woken := p.woken[:0]
	p.mu.Lock()
	for i := range evs {
		ev := &evs[i]
		slot := int(ev.Fd)
		if slot == kickTag {
			var buf [8]byte
			unix.Read(p.wakefd, buf[:]) // reset the counter
			continue
		}
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
	// When the leader's own event is in this batch it is about to leave:
	// the next leader is woken now, ahead of the batch, so that waking it
	// later does not push the batch's first goroutine to the back.
	var next *waiter
	if p.lw != nil && p.lw.seq.Load() != p.ls && p.handoff.Load() == nil {
		if next = p.parkedFollower(); next != nil {
			p.handoff.Store(next)
		}
	}
	p.mu.Unlock()
	if next != nil {
		next.wake()
	}
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
func (p *set) register(c *Conn) error {
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
func (p *set) unregister(c *Conn) {
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
	if p.closed.Load() {
		unix.Close(fd)
		return nil, ErrPollerClosed
	}
	s := p.sets[int(p.next.Add(1))%len(p.sets)]
	nc, err := s.newConn(fd, c.LocalAddr(), c.RemoteAddr())
	if err != nil {
		unix.Close(fd)
		return nil, err
	}
	c.Close()
	return nc, nil
}

// newConn serves fd, a connected non-blocking stream socket, from p.
func (p *set) newConn(fd int, laddr, raddr net.Addr) (*Conn, error) {
	// fd is a duplicate of a descriptor from package net, whose sockets are
	// all non-blocking: the flag belongs to the open file, which the two
	// descriptors share, so there is nothing to set.
	c := &Conn{p: p, fd: fd, laddr: laddr, raddr: raddr}
	c.refs.Store(1)
	c.r.init(p, &c.down)
	c.w.init(p, &c.down)
	if err := p.register(c); err != nil {
		return nil, err
	}
	return c, nil
}
