package udpproxy

import (
	"context"
	"log/slog"
	"net"
	"net/netip"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sluice-proxy/sluice/connfilter"
	"github.com/sluice-proxy/sluice/lb"
	"github.com/sluice-proxy/sluice/protocols/proxyproto"
)

// session is one client address's flow: the upstream it was given, the
// socket connected to that upstream, its place in the worker's LRU list and
// its counters. It holds no buffer and no goroutine: an idle session is this
// struct, a map entry and a kernel socket.
type session struct {
	key   clientKey
	peer  rawSockaddr // the client, as the listening socket sends to it
	local netip.Addr  // where the client sent to (a wildcard listener's pktinfo); invalid otherwise
	ls    *listenSocket
	up    *upstream
	fd    int
	slot  int32
	gen   uint32
	flags uint8

	prev, next *session // LRU list: prev is more recent

	created, last int64 // ns on the proxy's clock

	dgUp, dgDown       uint64
	bytesUp, bytesDown uint64

	qHead, qTail int32 // this flush's datagrams for the upstream, a chain through worker.up

	release func() // the filters' release, called on close
	hdr     []byte // PROXY v2 header, when configured
}

// session flags.
const (
	sClosed    uint8 = 1 << iota
	sDirty           // in worker.dirty
	sReplied         // the upstream has answered at least once
	sNoGSOUp         // GSO failed towards the upstream (path MTU)
	sNoGSODown       // GSO failed towards the client
)

func (s *session) has(f uint8) bool { return s.flags&f != 0 }

// lruList orders a worker's sessions by last activity.
type lruList struct {
	head, tail *session // head: most recent
}

func (l *lruList) pushFront(s *session) {
	s.prev, s.next = nil, l.head
	if l.head != nil {
		l.head.prev = s
	} else {
		l.tail = s
	}
	l.head = s
}

func (l *lruList) remove(s *session) {
	if s.prev != nil {
		s.prev.next = s.next
	} else {
		l.head = s.next
	}
	if s.next != nil {
		s.next.prev = s.prev
	} else {
		l.tail = s.prev
	}
	s.prev, s.next = nil, nil
}

// touch marks s active now and moves it to the front.
func (w *worker) touch(s *session) {
	s.last = w.now
	if w.lru.head != s {
		w.lru.remove(s)
		w.lru.pushFront(s)
	}
}

// closeSession closes s's socket, forgets it and accounts for it. The
// struct itself is recycled only after the current flush, so datagrams
// already queued for it are still safe to look at.
func (w *worker) closeSession(s *session, reason string) {
	if s.has(sClosed) {
		return
	}
	s.flags |= sClosed
	unix.Close(s.fd) // also leaves the epoll set
	s.fd = -1
	delete(w.table, s.key)
	w.lru.remove(s)
	w.slots[s.slot] = nil
	w.freeSlots = append(w.freeSlots, s.slot)
	w.n--
	if w.last == s {
		w.last = nil
	}
	s.up.be.Release()
	if s.release != nil {
		s.release()
		s.release = nil
	}
	m := w.p.metrics
	m.active.Dec()
	s.up.m.active.Dec()
	m.closedCounter(reason).Inc()
	w.logClose(s, reason)
	w.grave = append(w.grave, s)
}

// logClose writes the line for a closed session: at Info with AccessLog,
// else at Debug.
func (w *worker) logClose(s *session, reason string) {
	level := slog.LevelDebug
	if w.p.cfg.AccessLog {
		level = slog.LevelInfo
	}
	ctx := context.Background()
	if !w.p.log.Enabled(ctx, level) {
		return
	}
	w.p.log.LogAttrs(ctx, level, "udp session closed",
		slog.String("client", s.key.addrPort().String()),
		slog.String("upstream", s.up.addr),
		slog.Uint64("datagrams_up", s.dgUp),
		slog.Uint64("bytes_up", s.bytesUp),
		slog.Uint64("datagrams_down", s.dgDown),
		slog.Uint64("bytes_down", s.bytesDown),
		slog.Duration("duration", time.Duration(w.now-s.created)),
		slog.String("reason", reason),
	)
}

// maxPooledSessions bounds the structs a worker keeps for reuse, so that
// memory held after a flood of short sessions goes back to the heap.
const maxPooledSessions = 256

// newSession takes a session struct from the pool (or allocates one).
func (w *worker) newSession() *session {
	if n := len(w.pool); n > 0 {
		s := w.pool[n-1]
		w.pool = w.pool[:n-1]
		return s
	}
	return new(session)
}

// recycle returns the sessions closed during the last flush to the pool.
func (w *worker) recycle() {
	for i, s := range w.grave {
		hdr := s.hdr[:0]
		*s = session{hdr: hdr}
		if len(w.pool) < maxPooledSessions {
			w.pool = append(w.pool, s)
		}
		w.grave[i] = nil
	}
	w.grave = w.grave[:0]
}

// create makes the session of a new client whose first datagram is in slot
// i: filters, an upstream pick, room in the table (evicting the least
// recently active session), and a socket connected to the upstream. On
// failure it returns the drop reason.
func (w *worker) create(l *listenSocket, k clientKey, i int, dst netip.Addr) (*session, string) {
	p := w.p
	client := k.addrPort()
	local := l.local
	if l.pktinfo && dst.IsValid() {
		local = netip.AddrPortFrom(dst.Unmap(), l.local.Port())
	}
	var release func()
	if p.filter != nil {
		w.info = connfilter.Info{Listener: p.cfg.Name, Local: local, Peer: client, Client: client, Stage: connfilter.StageAccept}
		rel, err := p.filter.Check(w.ctx, &w.info)
		if err != nil {
			reason := connfilter.Reason(err)
			if p.log.Enabled(w.ctx, slog.LevelDebug) {
				p.log.Debug("udp session rejected", "client", client.String(), "reason", reason, "error", err)
			}
			return nil, reason
		}
		release = rel
	}
	fail := func(reason string) (*session, string) {
		if release != nil {
			release()
		}
		return nil, reason
	}
	w.keybuf = lb.AppendIPKey(w.keybuf[:0], client.Addr())
	be, err := p.bal.Pick(w.keybuf, nil)
	if err != nil {
		return fail(DropNoUpstream)
	}
	u := p.byBE[be]
	if u == nil {
		return fail(DropNoUpstream)
	}
	if w.n >= w.quota {
		w.closeSession(w.lru.tail, CloseEvicted)
	}
	fd, err := dialUpstream(u, w.gro)
	if err != nil {
		w.warn("udp upstream socket failed", "upstream", u.addr, "error", err)
		return fail(DropUpstreamSocket)
	}
	var slot int32
	if n := len(w.freeSlots); n > 0 {
		slot = w.freeSlots[n-1]
		w.freeSlots = w.freeSlots[:n-1]
	} else {
		slot = int32(len(w.slots))
		w.slots = append(w.slots, nil)
	}
	w.gen++
	if err := w.watch(fd, slot, w.gen); err != nil {
		unix.Close(fd)
		w.freeSlots = append(w.freeSlots, slot)
		w.warn("udp upstream socket failed", "upstream", u.addr, "error", err)
		return fail(DropUpstreamSocket)
	}
	s := w.newSession()
	s.key = k
	s.peer = rawSockaddr{sa: w.rx.names[i], len: w.rx.hdrs[i].Hdr.Namelen}
	if l.pktinfo {
		s.local = local.Addr()
	}
	s.ls, s.up, s.fd, s.slot, s.gen = l, u, fd, slot, w.gen
	s.created, s.last = w.now, w.now
	s.qHead, s.qTail = -1, -1
	s.release = release
	if p.proxyV2 {
		hdr, err := proxyproto.Format(2, net.UDPAddrFromAddrPort(client), net.UDPAddrFromAddrPort(local), nil)
		if err != nil { // cannot happen for two UDP addresses
			unix.Close(fd)
			w.freeSlots = append(w.freeSlots, slot)
			return fail(DropSendError)
		}
		s.hdr = append(s.hdr[:0], hdr...)
	}
	w.slots[slot] = s
	w.table[k] = s
	w.lru.pushFront(s)
	w.n++
	be.Acquire()
	p.metrics.created.Inc()
	p.metrics.active.Inc()
	u.m.active.Inc()
	return s, ""
}

// warn logs at Warn level at most once every ten seconds per worker, so a
// flood does not become a flood of log lines.
func (w *worker) warn(msg string, args ...any) {
	if w.lastWarn != 0 && w.now-w.lastWarn < int64(10*time.Second) {
		return
	}
	w.lastWarn = w.now
	w.p.log.Warn(msg, append(args, "worker", w.id)...)
}
