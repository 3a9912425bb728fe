package udpproxy

import (
	"net/netip"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Batch geometry.
const (
	// rxSlots is how many datagram buffers a worker has: the most it reads
	// before it must send what it has read.
	rxSlots = 64
	// ctrlSize is the control buffer per message: a UDP_GRO or UDP_SEGMENT
	// cmsg (int or uint16) plus an IP_PKTINFO or IPV6_PKTINFO one.
	ctrlSize = 64
	// txMsgs and txIovs bound one sendmmsg call.
	txMsgs = 64
	txIovs = 1024
	// maxSegs is the most datagrams one GSO send carries (the kernel's
	// UDP_MAX_SEGMENTS is 64 on older kernels, 128 on newer).
	maxSegs = 64
	// maxGSOBytes bounds the payload of one GSO send, below the 64 KiB an
	// IP packet (and so a GSO super-packet) can hold.
	maxGSOBytes = 60000
)

var sizeofInt = int(unsafe.Sizeof(int32(0)))

// The socket calls below never block (non-blocking sockets, MSG_DONTWAIT),
// so they are raw system calls: no scheduler hand-off around them, which
// also keeps Go's sysmon from waking every 20 µs to retake the worker's P.

// recvmmsg reads up to len(msgs) datagrams without blocking.
func recvmmsg(fd int, msgs []unix.Mmsghdr) (int, unix.Errno) {
	r, _, e := unix.RawSyscall6(unix.SYS_RECVMMSG, uintptr(fd), uintptr(unsafe.Pointer(&msgs[0])), uintptr(len(msgs)),
		unix.MSG_DONTWAIT, 0, 0)
	if e != 0 {
		return 0, e
	}
	return int(r), 0
}

// sendmmsg sends len(msgs) messages; it returns how many went before the
// first failure, and the failure's errno when none went.
func sendmmsg(fd int, msgs []unix.Mmsghdr) (int, unix.Errno) {
	r, _, e := unix.RawSyscall6(unix.SYS_SENDMMSG, uintptr(fd), uintptr(unsafe.Pointer(&msgs[0])), uintptr(len(msgs)),
		unix.MSG_DONTWAIT, 0, 0)
	if e != 0 {
		return 0, e
	}
	return int(r), 0
}

// sendmsg sends one message.
func sendmsg(fd int, h *unix.Msghdr) unix.Errno {
	_, _, e := unix.RawSyscall(unix.SYS_SENDMSG, uintptr(fd), uintptr(unsafe.Pointer(h)), unix.MSG_DONTWAIT)
	return e
}

// rxBatch is a worker's receive buffers: rxSlots message headers, each over
// one buffer of bufSize bytes in a shared arena, one address and one control
// buffer. Reads fill the slots from used on; a flush empties them.
type rxBatch struct {
	hdrs    []unix.Mmsghdr
	iovs    []unix.Iovec
	names   []unix.RawSockaddrInet6
	ctrl    []byte
	arena   []byte
	bufSize int
	used    int
}

func newRxBatch(bufSize int) *rxBatch {
	r := &rxBatch{
		hdrs:    make([]unix.Mmsghdr, rxSlots),
		iovs:    make([]unix.Iovec, rxSlots),
		names:   make([]unix.RawSockaddrInet6, rxSlots),
		ctrl:    make([]byte, rxSlots*ctrlSize),
		arena:   make([]byte, rxSlots*bufSize),
		bufSize: bufSize,
	}
	for i := range r.hdrs {
		r.iovs[i].Base = &r.arena[i*bufSize]
		r.iovs[i].SetLen(bufSize)
		h := &r.hdrs[i].Hdr
		h.Name = (*byte)(unsafe.Pointer(&r.names[i]))
		h.Iov = &r.iovs[i]
		h.SetIovlen(1)
		h.Control = &r.ctrl[i*ctrlSize]
	}
	return r
}

// free returns how many slots are left.
func (r *rxBatch) free() int { return len(r.hdrs) - r.used }

// recv reads up to max datagrams from fd into the free slots. It returns
// the first slot filled and how many were.
func (r *rxBatch) recv(fd, max int) (start, n int, errno unix.Errno) {
	start = r.used
	end := min(len(r.hdrs), start+max)
	if end <= start {
		return start, 0, 0
	}
	for i := start; i < end; i++ {
		h := &r.hdrs[i].Hdr
		h.Namelen = unix.SizeofSockaddrInet6
		h.SetControllen(ctrlSize)
		h.Flags = 0
	}
	n, errno = recvmmsg(fd, r.hdrs[start:end])
	r.used += n
	return start, n, errno
}

// slot returns what slot i holds: the datagram's offset in the arena, its
// length, flags and control messages.
func (r *rxBatch) slot(i int) (off, n int, flags int32, ctrl []byte) {
	h := &r.hdrs[i]
	cl := int(h.Hdr.Controllen)
	if cl > ctrlSize {
		cl = ctrlSize
	}
	return i * r.bufSize, int(h.Len), h.Hdr.Flags, r.ctrl[i*ctrlSize : i*ctrlSize+cl]
}

// cmsgAlign rounds n up to the alignment of control messages.
func cmsgAlign(n int) int {
	const a = int(unsafe.Sizeof(uintptr(0)))
	return (n + a - 1) &^ (a - 1)
}

// parseControl reads the GRO segment size (0 when the datagram was not
// coalesced) and the destination address (IP_PKTINFO/IPV6_PKTINFO; invalid
// when absent) from received control messages, without allocating.
func parseControl(b []byte) (seg int, dst netip.Addr) {
	hl := cmsgAlign(unix.SizeofCmsghdr)
	for len(b) >= unix.SizeofCmsghdr {
		h := (*unix.Cmsghdr)(unsafe.Pointer(&b[0]))
		l := int(h.Len)
		if l < hl || l > len(b) {
			break
		}
		data := b[hl:l]
		switch {
		case h.Level == unix.SOL_UDP && h.Type == unix.UDP_GRO && len(data) >= sizeofInt:
			seg = int(*(*int32)(unsafe.Pointer(&data[0])))
		case h.Level == unix.IPPROTO_IP && h.Type == unix.IP_PKTINFO && len(data) >= unix.SizeofInet4Pktinfo:
			pi := (*unix.Inet4Pktinfo)(unsafe.Pointer(&data[0]))
			dst = netip.AddrFrom4(pi.Addr)
		case h.Level == unix.IPPROTO_IPV6 && h.Type == unix.IPV6_PKTINFO && len(data) >= unix.SizeofInet6Pktinfo:
			pi := (*unix.Inet6Pktinfo)(unsafe.Pointer(&data[0]))
			dst = netip.AddrFrom16(pi.Addr)
		}
		if cmsgAlign(l) >= len(b) {
			break
		}
		b = b[cmsgAlign(l):]
	}
	return seg, dst
}

// putCmsg writes a control message header for dataLen bytes of data at the
// start of b and returns the data slice and the space used.
func putCmsg(b []byte, level, typ int32, dataLen int) (data []byte, space int) {
	h := (*unix.Cmsghdr)(unsafe.Pointer(&b[0]))
	h.Level, h.Type = level, typ
	h.SetLen(unix.CmsgLen(dataLen))
	hl := cmsgAlign(unix.SizeofCmsghdr)
	return b[hl : hl+dataLen], unix.CmsgSpace(dataLen)
}

// putSegment writes a UDP_SEGMENT control message (the GSO segment size).
func putSegment(b []byte, size int) int {
	data, space := putCmsg(b, unix.SOL_UDP, unix.UDP_SEGMENT, 2)
	*(*uint16)(unsafe.Pointer(&data[0])) = uint16(size)
	return space
}

// putSource writes the control message that makes a datagram leave from
// src: IP_PKTINFO on an IPv4 socket, IPV6_PKTINFO on an IPv6 one (an IPv4
// source IPv4-mapped, which Linux accepts on a dual-stack socket).
func putSource(b []byte, src netip.Addr, v6sock bool) int {
	if !v6sock {
		data, space := putCmsg(b, unix.IPPROTO_IP, unix.IP_PKTINFO, unix.SizeofInet4Pktinfo)
		pi := (*unix.Inet4Pktinfo)(unsafe.Pointer(&data[0]))
		*pi = unix.Inet4Pktinfo{Spec_dst: src.Unmap().As4()}
		return space
	}
	data, space := putCmsg(b, unix.IPPROTO_IPV6, unix.IPV6_PKTINFO, unix.SizeofInet6Pktinfo)
	pi := (*unix.Inet6Pktinfo)(unsafe.Pointer(&data[0]))
	*pi = unix.Inet6Pktinfo{Addr: src.As16()}
	return space
}

// txBatch is the messages of one sendmmsg call under construction.
type txBatch struct {
	hdrs []unix.Mmsghdr
	iovs []unix.Iovec
	ctrl []byte
	meta []txMeta
	nmsg int
	niov int
	one  unix.Msghdr // for sending a GSO message's datagrams one by one
}

// txMeta describes message i of a txBatch.
type txMeta struct {
	s       *session
	segs    int   // datagrams in the message
	bytes   int   // payload bytes (no PROXY header)
	iov0    int   // first iovec
	per     int   // iovecs per datagram: 1, or 2 with a PROXY header
	gso     bool  // carries a UDP_SEGMENT control message
	ctrlLen int   // control bytes before the UDP_SEGMENT message
	name    *byte // destination, nil on a connected socket
	nameLen uint32
}

func newTxBatch() *txBatch {
	return &txBatch{
		hdrs: make([]unix.Mmsghdr, txMsgs),
		iovs: make([]unix.Iovec, txIovs),
		ctrl: make([]byte, txMsgs*ctrlSize),
		meta: make([]txMeta, txMsgs),
	}
}

func (t *txBatch) reset() { t.nmsg, t.niov = 0, 0 }

// room reports whether one more message of up to iovs iovecs fits.
func (t *txBatch) room(iovs int) bool { return t.nmsg < len(t.hdrs) && t.niov+iovs <= len(t.iovs) }

// begin starts message t.nmsg to name (nil on a connected socket).
func (t *txBatch) begin(s *session, name *byte, nameLen uint32, per int) *txMeta {
	m := &t.meta[t.nmsg]
	*m = txMeta{s: s, iov0: t.niov, per: per, name: name, nameLen: nameLen}
	return m
}

// add appends one iovec over b to the message being built.
func (t *txBatch) add(b []byte) {
	v := &t.iovs[t.niov]
	v.Base = unsafe.SliceData(b)
	v.SetLen(len(b))
	t.niov++
}

// end finishes the message begun last: src, when valid, is the source
// address to send from (a wildcard listener's), seg > 0 makes it a GSO
// message of segments of that size.
func (t *txBatch) end(m *txMeta, src netip.Addr, v6sock bool, seg int) {
	h := &t.hdrs[t.nmsg].Hdr
	h.Name, h.Namelen = m.name, m.nameLen
	h.Iov = &t.iovs[m.iov0]
	h.SetIovlen(t.niov - m.iov0)
	ctrl := t.ctrl[t.nmsg*ctrlSize : (t.nmsg+1)*ctrlSize]
	n := 0
	if src.IsValid() {
		n += putSource(ctrl, src, v6sock)
	}
	m.ctrlLen = n
	if seg > 0 {
		n += putSegment(ctrl[n:], seg)
		m.gso = true
	}
	if n > 0 {
		h.Control = &ctrl[0]
	} else {
		h.Control = nil
	}
	h.SetControllen(n)
	h.Flags = 0
	t.nmsg++
}
