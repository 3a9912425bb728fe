// Package offload holds the UDP GSO/GRO helpers the side-by-side tools use
// with -offload: a client or server that sends runs of equal datagrams as
// one UDP_SEGMENT message and receives coalesced ones with UDP_GRO, as
// QUIC stacks do.
package offload

import (
	"net"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Space is the control buffer a tool gives each message.
const Space = 64

// EnableGRO turns UDP_GRO on for c and reports whether the kernel took it.
func EnableGRO(c *net.UDPConn) bool {
	rc, err := c.SyscallConn()
	if err != nil {
		return false
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_UDP, unix.UDP_GRO, 1)
	}); err != nil {
		return false
	}
	return serr == nil
}

// Segment writes a UDP_SEGMENT control message for segments of size bytes
// into b (at least Space bytes) and returns it.
func Segment(b []byte, size int) []byte {
	h := (*unix.Cmsghdr)(unsafe.Pointer(&b[0]))
	h.Level, h.Type = unix.SOL_UDP, unix.UDP_SEGMENT
	h.SetLen(unix.CmsgLen(2))
	*(*uint16)(unsafe.Pointer(&b[unix.CmsgLen(0)])) = uint16(size)
	return b[:unix.CmsgSpace(2)]
}

// GRO returns the segment size of a coalesced datagram from its control
// messages, or 0 when it was not coalesced.
func GRO(oob []byte) int {
	for len(oob) >= unix.SizeofCmsghdr {
		h := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
		l := int(h.Len)
		if l < unix.CmsgLen(0) || l > len(oob) {
			return 0
		}
		if h.Level == unix.SOL_UDP && h.Type == unix.UDP_GRO && l >= unix.CmsgLen(4) {
			return int(*(*int32)(unsafe.Pointer(&oob[unix.CmsgLen(0)])))
		}
		next := unix.CmsgSpace(l - unix.CmsgLen(0))
		if next >= len(oob) {
			return 0
		}
		oob = oob[next:]
	}
	return 0
}
