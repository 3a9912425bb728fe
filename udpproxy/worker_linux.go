package udpproxy

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sys/unix"

	"github.com/sluice-proxy/sluice/connfilter"
)

// epoll tags (the event's Fd field): a session's slot (>= 0), the wake-up
// eventfd, or a listening socket (tagListen - index).
const (
	tagWake   int32 = -1
	tagListen int32 = -2
)

// worker is one event loop: its listening sockets (one per listen address,
// sharing the port with the other workers' through SO_REUSEPORT), its share
// of the session table, and one epoll set for all of them. Everything but
// the control queue is touched only by the worker's own goroutine.
type worker struct {
	p      *Proxy
	id     int
	epfd   int
	epf    *os.File  // epfd, registered with Go's netpoller
	dl     time.Time // the read deadline set on epf
	pollFn func(fd uintptr) bool
	nready int
	werr   unix.Errno
	wakefd int
	ls     []*listenSocket
	gro    bool
	gso    bool
	quota  int
	ctx    context.Context

	table     map[clientKey]*session
	lru       lruList
	n         int      // sessions held
	last      *session // the session of the previous client datagram
	slots     []*session
	freeSlots []int32
	gen       uint32
	pool      []*session
	grave     []*session // closed during this flush, recycled after it

	events []unix.EpollEvent
	rx     *rxBatch
	tx     *txBatch
	up     []upItem   // datagrams for upstreams, chained per session
	dirty  []*session // sessions with datagrams in up
	down   []downItem // datagrams for clients, in arrival order
	now    int64

	keybuf   []byte
	info     connfilter.Info
	ctr      []flowCounters // by upstream index, flushed to metrics per loop
	drops    map[dropKey]prometheus.Counter
	lastWarn int64

	ctlMu  sync.Mutex
	ctl    []func(*worker)
	exited bool
}

// upItem is a datagram for a session's upstream.
type upItem struct {
	s      *session
	off, n int32 // in the rx arena
	next   int32 // next item of the same session, -1 at the end
}

// downItem is a datagram for a session's client.
type downItem struct {
	s      *session
	off, n int32
}

// flowCounters accumulate one upstream's traffic between metric flushes.
type flowCounters struct {
	dgUp, bytesUp, dgDown, bytesDown uint64
}

// direction says which way a datagram goes.
type direction uint8

const (
	toUpstream direction = iota
	toClient
)

func (d direction) String() string {
	if d == toUpstream {
		return dirUp
	}
	return dirDown
}

// start builds the workers over the bound sockets and runs them. Called
// with p.mu held.
func (p *Proxy) start() error {
	ws := make([]*worker, 0, p.workers)
	base, extra := p.cfg.MaxSessions/p.workers, p.cfg.MaxSessions%p.workers
	for i := 0; i < p.workers; i++ {
		quota := base
		if i < extra {
			quota++
		}
		w, err := newWorker(p, i, p.socks.socks[i], quota)
		if err != nil {
			for _, w := range ws {
				w.closeLoop()
			}
			return err
		}
		ws = append(ws, w)
	}
	p.socks.socks = nil // the workers own them now
	p.running = ws
	for _, w := range ws {
		p.wg.Add(1)
		go w.run()
	}
	return nil
}

// signalStop asks every worker to stop.
func (p *Proxy) signalStop() {
	p.stopping.Store(true)
	p.mu.Lock()
	ws := p.running
	p.mu.Unlock()
	for _, w := range ws {
		w.wake()
	}
}

// newWorker makes a worker over its listening sockets with its share of
// the sessions: an epoll set, a wake-up eventfd and its batches.
func newWorker(p *Proxy, id int, ls []*listenSocket, quota int) (*worker, error) {
	w := &worker{
		p:      p,
		id:     id,
		ls:     ls,
		gro:    p.socks.gro,
		gso:    p.socks.gso,
		quota:  quota,
		ctx:    context.Background(),
		table:  make(map[clientKey]*session),
		events: make([]unix.EpollEvent, 128),
		rx:     newRxBatch(p.bufSize),
		tx:     newTxBatch(),
		ctr:    make([]flowCounters, len(p.ups)),
		drops:  make(map[dropKey]prometheus.Counter),
		wakefd: -1,
	}
	var err error
	if w.epfd, err = unix.EpollCreate1(unix.EPOLL_CLOEXEC); err != nil {
		return nil, os.NewSyscallError("epoll_create1", err)
	}
	// The worker's epoll set is itself pollable: registered with Go's
	// netpoller, the worker parks like any goroutine waiting on a socket
	// instead of blocking a thread in epoll_wait.
	if err := unix.SetNonblock(w.epfd, true); err != nil {
		unix.Close(w.epfd)
		return nil, os.NewSyscallError("fcntl", err)
	}
	w.epf = os.NewFile(uintptr(w.epfd), "udpproxy-epoll")
	w.pollFn = w.poll
	if w.wakefd, err = unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC); err != nil {
		w.closeLoop()
		return nil, os.NewSyscallError("eventfd", err)
	}
	if err := w.watch(w.wakefd, tagWake, 0); err != nil {
		w.closeLoop()
		return nil, err
	}
	for i, l := range ls {
		if err := w.watch(l.fd, tagListen-int32(i), 0); err != nil {
			w.closeLoop()
			return nil, err
		}
	}
	return w, nil
}

// watch adds fd to the epoll set for reading.
func (w *worker) watch(fd int, tag int32, gen uint32) error {
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: tag, Pad: int32(gen)}
	if err := unix.EpollCtl(w.epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
		return os.NewSyscallError("epoll_ctl", err)
	}
	return nil
}

// closeLoop closes the epoll set and the eventfd (not the sockets).
func (w *worker) closeLoop() {
	w.ctlMu.Lock()
	defer w.ctlMu.Unlock()
	if w.epf != nil {
		w.epf.Close()
		w.epf, w.epfd = nil, -1
	}
	if w.wakefd >= 0 {
		unix.Close(w.wakefd)
		w.wakefd = -1
	}
}

// run is the worker's loop: wait, read what is ready, send what was read,
// close what has been idle too long.
func (w *worker) run() {
	defer w.p.wg.Done()
	defer w.exit()
	rc, err := w.epf.SyscallConn()
	if err != nil {
		w.p.log.Error("udp worker stopped", "worker", w.id, "error", err)
		return
	}
	for !w.p.stopping.Load() {
		n, err := w.wait(rc)
		if err != nil {
			w.p.log.Error("udp worker stopped", "worker", w.id, "error", err)
			return
		}
		w.now = w.p.now()
		for i := 0; i < n; i++ {
			ev := &w.events[i]
			switch tag := ev.Fd; {
			case tag >= 0:
				w.sessionEvent(tag, uint32(ev.Pad), ev.Events)
			case tag == tagWake:
				w.runControl()
			default:
				w.readListener(w.ls[tagListen-tag])
			}
		}
		w.flush()
		w.expire()
	}
}

// wait returns the ready events, parking in Go's netpoller while there are
// none, at most until the next idle expiry is due (then it returns 0).
func (w *worker) wait(rc syscall.RawConn) (int, error) {
	w.setDeadline()
	w.nready, w.werr = 0, 0
	err := rc.Read(w.pollFn)
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded):
		w.dl = time.Time{}
		w.epf.SetReadDeadline(w.dl) // the next wait sets the next one
		return 0, nil
	case err != nil:
		return 0, err
	case w.werr != 0:
		return 0, os.NewSyscallError("epoll_wait", w.werr)
	}
	return w.nready, nil
}

// poll is what wait hands the netpoller (as w.pollFn, made once, so that
// waiting allocates nothing): a non-blocking epoll_wait on the worker's
// set, done when it returned events or failed.
func (w *worker) poll(fd uintptr) bool {
	r, _, e := unix.RawSyscall6(unix.SYS_EPOLL_PWAIT, fd, uintptr(unsafe.Pointer(&w.events[0])), uintptr(len(w.events)), 0, 0, 0)
	w.nready, w.werr = int(r), e
	return w.nready > 0 || (e != 0 && e != unix.EINTR)
}

// setDeadline sets epf's read deadline to when the least recently active
// session expires, plus a little slack so that expiries are batched; no
// deadline without sessions. The deadline is changed only when it moves by
// more than the slack.
func (w *worker) setDeadline() {
	var want time.Time
	slack := time.Duration(min(w.p.idle/100, int64(time.Second)))
	if t := w.lru.tail; t != nil {
		want = time.Now().Add(time.Duration(t.last+w.p.idle-w.p.now()) + slack)
	}
	if want.IsZero() == w.dl.IsZero() && (want.IsZero() || (want.Sub(w.dl) < slack && w.dl.Sub(want) < slack)) {
		return
	}
	w.dl = want
	w.epf.SetReadDeadline(want)
}

// exit closes every session and socket, then runs what is still queued on
// the control queue so that nobody waits for a worker that is gone.
func (w *worker) exit() {
	w.now = w.p.now()
	for s := w.lru.tail; s != nil; s = w.lru.tail {
		w.closeSession(s, CloseShutdown)
	}
	w.flushCounters()
	w.recycle()
	for _, l := range w.ls {
		unix.Close(l.fd)
	}
	w.closeLoop()
	w.ctlMu.Lock()
	w.exited = true
	fns := w.ctl
	w.ctl = nil
	w.ctlMu.Unlock()
	for _, fn := range fns {
		fn(w)
	}
}

// post queues fn to run on the worker's goroutine and wakes it. It reports
// false when the worker is gone.
func (w *worker) post(fn func(*worker)) bool {
	w.ctlMu.Lock()
	if w.exited {
		w.ctlMu.Unlock()
		return false
	}
	w.ctl = append(w.ctl, fn)
	w.ctlMu.Unlock()
	w.wake()
	return true
}

// wake makes the worker's epoll_wait return.
func (w *worker) wake() {
	w.ctlMu.Lock()
	defer w.ctlMu.Unlock()
	if w.wakefd >= 0 {
		var one = [8]byte{1}
		_, _ = unix.Write(w.wakefd, one[:])
	}
}

// runControl drains the eventfd and runs the queued control functions.
func (w *worker) runControl() {
	var buf [8]byte
	_, _ = unix.Read(w.wakefd, buf[:])
	w.ctlMu.Lock()
	fns := w.ctl
	w.ctl = nil
	w.ctlMu.Unlock()
	for _, fn := range fns {
		fn(w)
	}
}

// expire closes the sessions idle for IdleTimeout or longer.
func (w *worker) expire() {
	for s := w.lru.tail; s != nil && w.now-s.last >= w.p.idle; s = w.lru.tail {
		w.closeSession(s, CloseExpired)
	}
	if len(w.grave) > 0 {
		w.recycle()
	}
}

// drop counts n datagrams dropped.
func (w *worker) drop(dir direction, reason string, n int) {
	k := dropKey{dir.String(), reason}
	c := w.drops[k]
	if c == nil {
		c = w.p.metrics.drop(k.dir, reason)
		w.drops[k] = c
	}
	c.Add(float64(n))
	if w.p.log.Enabled(w.ctx, slog.LevelDebug) {
		w.p.log.Debug("udp datagrams dropped", "direction", k.dir, "reason", reason, "count", n)
	}
}
