package udpproxy

import (
	"log/slog"
	"net/netip"
	"os"

	"golang.org/x/sys/unix"

	"github.com/sluice-proxy/sluice/internal/localerr"
)

// segments is how many datagrams a buffer of n bytes holds when GRO
// coalesced them in segments of seg bytes.
func segments(n, seg int) int {
	if seg <= 0 || seg >= n {
		return 1
	}
	return (n + seg - 1) / seg
}

// readListener reads client datagrams from l until it is drained or a few
// batches have been read.
func (w *worker) readListener(l *listenSocket) {
	for range 4 {
		if w.rx.free() == 0 {
			w.flush()
		}
		want := w.rx.free()
		start, n, errno := w.rx.recv(l.fd, want)
		if errno != 0 {
			if errno != unix.EAGAIN && errno != unix.EINTR {
				// A pending socket error would make every read fail and
				// epoll report the socket ready forever: reading SO_ERROR
				// clears it.
				_, _ = unix.GetsockoptInt(l.fd, unix.SOL_SOCKET, unix.SO_ERROR)
				w.warn("udp listener read failed", "error", os.NewSyscallError("recvmmsg", errno))
			}
			return
		}
		for i := start; i < start+n; i++ {
			w.fromClient(l, i)
		}
		if n < want {
			return
		}
	}
}

// fromClient routes the datagram in slot i, read from l, to its session,
// creating the session for a new client.
func (w *worker) fromClient(l *listenSocket, i int) {
	off, length, flags, ctrl := w.rx.slot(i)
	if flags&unix.MSG_TRUNC != 0 {
		w.drop(toUpstream, DropTruncated, 1)
		return
	}
	var seg int
	var dst netip.Addr
	if len(ctrl) > 0 {
		seg, dst = parseControl(ctrl)
	}
	k, ok := keyFromRaw(&w.rx.names[i], w.rx.hdrs[i].Hdr.Namelen, l.idx)
	if !ok {
		w.drop(toUpstream, "bad_source", segments(length, seg))
		return
	}
	s := w.last
	if s == nil || s.key != k {
		if s = w.table[k]; s == nil {
			var reason string
			if s, reason = w.create(l, k, i, dst); s == nil {
				w.drop(toUpstream, reason, segments(length, seg))
				return
			}
		}
		w.last = s
	}
	w.touch(s)
	if seg <= 0 || seg >= length {
		w.queueUp(s, off, length)
		return
	}
	for o := 0; o < length; o += seg {
		w.queueUp(s, off+o, min(seg, length-o))
	}
}

// queueUp appends a datagram to s's chain for the next flush.
func (w *worker) queueUp(s *session, off, n int) {
	idx := int32(len(w.up))
	w.up = append(w.up, upItem{s: s, off: int32(off), n: int32(n), next: -1})
	if s.qHead < 0 {
		s.qHead = idx
		if !s.has(sDirty) {
			s.flags |= sDirty
			w.dirty = append(w.dirty, s)
		}
	} else {
		w.up[s.qTail].next = idx
	}
	s.qTail = idx
}

// sessionEvent handles readiness of a session's upstream socket.
func (w *worker) sessionEvent(slot int32, gen uint32, events uint32) {
	if int(slot) >= len(w.slots) {
		return
	}
	s := w.slots[slot]
	if s == nil || s.gen != gen {
		return // closed earlier in this loop
	}
	if events&unix.EPOLLERR != 0 {
		v, err := unix.GetsockoptInt(s.fd, unix.SOL_SOCKET, unix.SO_ERROR)
		if err == nil && v != 0 {
			w.upstreamFailed(s, unix.Errno(v))
			return
		}
	}
	w.readSession(s)
}

// upstreamFailed closes s after an error on its socket (an ICMP error from
// the upstream) and reports the failure to the balancer.
func (w *worker) upstreamFailed(s *session, errno unix.Errno) {
	reason := CloseUpstreamError
	if errno == unix.ECONNREFUSED {
		reason = CloseUpstreamRefused
	}
	if !localerr.Is(errno) { // ENOBUFS and the like are this host's, not the upstream's
		w.p.bal.ReportFailure(s.up.be)
	}
	if w.p.log.Enabled(w.ctx, slog.LevelDebug) {
		w.p.log.Debug("udp upstream error", "client", s.key.addrPort().String(), "upstream", s.up.addr, "error", errno)
	}
	w.closeSession(s, reason)
}

// readSession reads the upstream's replies for s.
func (w *worker) readSession(s *session) {
	for range 2 {
		if w.rx.free() == 0 {
			w.flush()
			if s.has(sClosed) {
				return
			}
		}
		want := w.rx.free()
		start, n, errno := w.rx.recv(s.fd, want)
		if errno != 0 {
			if errno != unix.EAGAIN && errno != unix.EINTR {
				w.upstreamFailed(s, errno)
			}
			return
		}
		if n == 0 {
			return
		}
		if !s.has(sReplied) {
			s.flags |= sReplied
			w.p.bal.ReportSuccess(s.up.be)
		}
		w.touch(s)
		for i := start; i < start+n; i++ {
			off, length, flags, ctrl := w.rx.slot(i)
			if flags&unix.MSG_TRUNC != 0 {
				w.drop(toClient, DropTruncated, 1)
				continue
			}
			seg := 0
			if len(ctrl) > 0 {
				seg, _ = parseControl(ctrl)
			}
			if seg <= 0 || seg >= length {
				w.down = append(w.down, downItem{s: s, off: int32(off), n: int32(length)})
				continue
			}
			for o := 0; o < length; o += seg {
				w.down = append(w.down, downItem{s: s, off: int32(off + o), n: int32(min(seg, length-o))})
			}
		}
		if n < want {
			return
		}
	}
}
