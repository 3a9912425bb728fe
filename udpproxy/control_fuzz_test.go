//go:build linux

package udpproxy

import (
	"net/netip"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// FuzzParseControl feeds arbitrary control-message buffers to the parser
// the workers run on every received datagram: it must never panic or read
// past the buffer, and must find what a well-formed buffer holds.
func FuzzParseControl(f *testing.F) {
	b := make([]byte, ctrlSize)
	n := putSource(b, netip.MustParseAddr("127.0.0.3"), false)
	f.Add(b[:n])
	n = putSource(b, netip.MustParseAddr("::1"), true)
	n += putSegment(b[n:], 1200)
	f.Add(b[:n])
	f.Add([]byte{})
	f.Add(make([]byte, unix.SizeofCmsghdr))
	f.Fuzz(func(t *testing.T, data []byte) {
		seg, dst := parseControl(data)
		_ = seg
		_ = dst
	})
}

func TestParseControl(t *testing.T) {
	b := make([]byte, ctrlSize)
	// A received IP_PKTINFO carries the destination in ipi_addr.
	data, space := putCmsg(b, unix.IPPROTO_IP, unix.IP_PKTINFO, unix.SizeofInet4Pktinfo)
	copy(data[8:12], []byte{10, 1, 2, 3})
	gro, _ := putCmsg(b[space:], unix.SOL_UDP, unix.UDP_GRO, 4)
	*(*int32)(unsafe.Pointer(&gro[0])) = 1500
	seg, dst := parseControl(b[:space+unix.CmsgSpace(4)])
	if seg != 1500 || dst != netip.MustParseAddr("10.1.2.3") {
		t.Errorf("seg %d dst %v", seg, dst)
	}
	if seg, dst := parseControl(b[:unix.CmsgLen(unix.SizeofInet4Pktinfo)-1]); seg != 0 || dst.IsValid() {
		t.Errorf("truncated buffer: seg %d dst %v", seg, dst)
	}
}
