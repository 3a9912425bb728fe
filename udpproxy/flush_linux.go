package udpproxy

import (
	"net/netip"

	"golang.org/x/sys/unix"
)

// flush sends every datagram read since the last flush — to the upstreams
// with one sendmmsg per session, to the clients with one sendmmsg per
// listening socket, equal-size runs to one destination as GSO messages
// where the kernel allows — then frees the receive slots, publishes the
// counters and recycles the sessions closed meanwhile.
func (w *worker) flush() {
	gso := w.gso && !w.p.gsoBroken.Load()
	for i, s := range w.dirty {
		s.flags &^= sDirty
		if s.has(sClosed) {
			n := 0
			for idx := s.qHead; idx >= 0; idx = w.up[idx].next {
				n++
			}
			w.drop(toUpstream, DropSessionClosed, n)
		} else {
			w.sendUp(s, gso)
		}
		s.qHead, s.qTail = -1, -1
		w.dirty[i] = nil
	}
	w.dirty = w.dirty[:0]
	w.up = w.up[:0]
	if len(w.down) > 0 {
		for _, l := range w.ls {
			w.sendDown(l, gso)
		}
		clear(w.down)
		w.down = w.down[:0]
	}
	w.rx.used = 0
	w.flushCounters()
	if len(w.grave) > 0 {
		w.recycle()
	}
}

// sendUp sends s's queued datagrams to its upstream, each with the PROXY
// header in front when one is configured (as its own iovec: nothing is
// copied).
func (w *worker) sendUp(s *session, gso bool) {
	t := w.tx
	t.reset()
	gso = gso && !s.has(sNoGSOUp)
	per, hl := 1, len(s.hdr)
	if hl > 0 {
		per = 2
	}
	arena := w.rx.arena
	idx := s.qHead
	for idx >= 0 {
		if !t.room(per * maxSegs) {
			if w.sendTx(s.fd, toUpstream); s.has(sClosed) {
				w.dropChain(idx)
				return
			}
			t.reset()
		}
		m := t.begin(s, nil, 0, per)
		seg, total := 0, 0
		for idx >= 0 {
			it := &w.up[idx]
			size := hl + int(it.n)
			if m.segs > 0 && !(gso && seg > 0 && size > 0 && size <= seg && m.segs < maxSegs && total+size <= maxGSOBytes) {
				break
			}
			if hl > 0 {
				t.add(s.hdr)
			}
			t.add(arena[it.off : it.off+it.n])
			m.segs++
			m.bytes += int(it.n)
			total += size
			idx = it.next
			if m.segs == 1 {
				seg = size
			} else if size < seg {
				break // a shorter segment can only be the last
			}
		}
		if m.segs < 2 {
			seg = 0
		}
		t.end(m, netip.Addr{}, false, seg)
	}
	w.sendTx(s.fd, toUpstream)
}

// dropChain counts the datagrams of a session's chain from idx on as
// dropped because the session closed.
func (w *worker) dropChain(idx int32) {
	n := 0
	for ; idx >= 0; idx = w.up[idx].next {
		n++
	}
	if n > 0 {
		w.drop(toUpstream, DropSessionClosed, n)
	}
}

// sendDown sends the queued replies that leave through l, in arrival order.
func (w *worker) sendDown(l *listenSocket, gso bool) {
	t := w.tx
	t.reset()
	arena := w.rx.arena
	down := w.down
	for k := 0; k < len(down); {
		s := down[k].s
		if s.ls != l {
			k++
			continue
		}
		if !t.room(maxSegs) {
			w.sendTx(l.fd, toClient)
			t.reset()
		}
		sgso := gso && !s.has(sNoGSODown)
		m := t.begin(s, s.peer.ptr(), s.peer.len, 1)
		seg, total := 0, 0
		for k < len(down) && down[k].s == s {
			it := &down[k]
			size := int(it.n)
			if m.segs > 0 && !(sgso && seg > 0 && size > 0 && size <= seg && m.segs < maxSegs && total+size <= maxGSOBytes) {
				break
			}
			t.add(arena[it.off : it.off+it.n])
			m.segs++
			m.bytes += size
			total += size
			k++
			if m.segs == 1 {
				seg = size
			} else if size < seg {
				break
			}
		}
		if m.segs < 2 {
			seg = 0
		}
		src := netip.Addr{}
		if l.pktinfo {
			src = s.local
		}
		t.end(m, src, l.v6, seg)
	}
	w.sendTx(l.fd, toClient)
}

// sendTx sends the messages built in w.tx on fd, then accounts for each:
// sent, sent again one datagram at a time (a GSO message the route refused),
// or dropped with a reason. On a session's socket an ICMP error closes the
// session.
func (w *worker) sendTx(fd int, dir direction) {
	t := w.tx
	for i := 0; i < t.nmsg; {
		var n int
		var errno unix.Errno
		if f := w.p.gsoFault; f != 0 && t.meta[i].gso {
			errno = f // a test standing in for a route that refuses GSO
		} else {
			n, errno = sendmmsg(fd, t.hdrs[i:t.nmsg])
		}
		if errno == 0 && n == 0 { // cannot happen; never spin on it
			errno = unix.EIO
		}
		if errno == 0 {
			for k := i; k < i+n; k++ {
				m := &t.meta[k]
				w.sent(m.s, dir, m.segs, m.bytes)
			}
			i += n
			continue
		}
		m := &t.meta[i]
		switch {
		case errno == unix.EINTR:
			continue
		case errno == unix.EAGAIN || errno == unix.ENOBUFS:
			for k := i; k < t.nmsg; k++ {
				w.drop(dir, DropSendBufferFull, t.meta[k].segs)
			}
			return
		case m.gso && (errno == unix.EIO || errno == unix.EINVAL || errno == unix.EMSGSIZE):
			if errno == unix.EIO {
				// No checksum offload on this route: GSO cannot work.
				if !w.p.gsoBroken.Swap(true) {
					w.p.log.Warn("UDP GSO failed with EIO; sending datagrams one by one from now on")
					w.p.metrics.setOffload(w.gro, false)
				}
			} else if dir == toUpstream {
				m.s.flags |= sNoGSOUp // a segment larger than the path MTU
			} else {
				m.s.flags |= sNoGSODown
			}
			w.sendEach(fd, i, dir)
			i++
		case dir == toUpstream && isPeerError(errno):
			for k := i; k < t.nmsg; k++ {
				w.drop(dir, CloseUpstreamRefused, t.meta[k].segs)
			}
			w.upstreamFailed(m.s, errno)
			return
		default:
			w.drop(dir, DropSendError, m.segs)
			i++
		}
	}
}

// isPeerError reports whether a send error on a connected socket is an
// ICMP error about the peer.
func isPeerError(e unix.Errno) bool {
	switch e {
	case unix.ECONNREFUSED, unix.EHOSTUNREACH, unix.ENETUNREACH, unix.EHOSTDOWN:
		return true
	}
	return false
}

// sendEach sends the datagrams of GSO message i one by one.
func (w *worker) sendEach(fd, i int, dir direction) {
	t := w.tx
	m := &t.meta[i]
	h := &t.one
	*h = unix.Msghdr{Name: m.name, Namelen: m.nameLen}
	if m.ctrlLen > 0 {
		h.Control = &t.ctrl[i*ctrlSize]
		h.SetControllen(m.ctrlLen)
	}
	for j := 0; j < m.segs; j++ {
		v := m.iov0 + j*m.per
		h.Iov = &t.iovs[v]
		h.SetIovlen(m.per)
		payload := int(t.iovs[v+m.per-1].Len)
		if errno := sendmsg(fd, h); errno != 0 {
			reason := DropSendError
			if errno == unix.EAGAIN || errno == unix.ENOBUFS {
				reason = DropSendBufferFull
			}
			w.drop(dir, reason, 1)
			continue
		}
		w.sent(m.s, dir, 1, payload)
	}
}

// sent accounts for datagrams that left.
func (w *worker) sent(s *session, dir direction, segs, bytes int) {
	c := &w.ctr[s.up.idx]
	if dir == toUpstream {
		s.dgUp += uint64(segs)
		s.bytesUp += uint64(bytes)
		c.dgUp += uint64(segs)
		c.bytesUp += uint64(bytes)
		return
	}
	s.dgDown += uint64(segs)
	s.bytesDown += uint64(bytes)
	c.dgDown += uint64(segs)
	c.bytesDown += uint64(bytes)
}

// flushCounters publishes the traffic counted since the last call.
func (w *worker) flushCounters() {
	for i := range w.ctr {
		c := &w.ctr[i]
		if *c == (flowCounters{}) {
			continue
		}
		m := w.p.ups[i].m
		if c.dgUp > 0 {
			m.dgUp.Add(float64(c.dgUp))
			m.bytesUp.Add(float64(c.bytesUp))
		}
		if c.dgDown > 0 {
			m.dgDown.Add(float64(c.dgDown))
			m.bytesDown.Add(float64(c.bytesDown))
		}
		*c = flowCounters{}
	}
}
