//go:build linux

package udpproxy

import (
	"bytes"
	"encoding/binary"
	"net"
	"testing"
)

// v2Header4 builds a PROXY v2 header for UDP over IPv4 by hand, from the
// spec (section 2.2), independently of go-proxyproto.
func v2Header4(src, dst [4]byte, sport, dport int) []byte {
	b := []byte("\r\n\r\n\x00\r\nQUIT\n")
	b = append(b, 0x21)       // version 2, command PROXY
	b = append(b, 0x12)       // AF_INET, SOCK_DGRAM
	b = append(b, 0x00, 0x0c) // 12 bytes of addresses
	b = append(b, src[:]...)
	b = append(b, dst[:]...)
	b = binary.BigEndian.AppendUint16(b, uint16(sport))
	b = binary.BigEndian.AppendUint16(b, uint16(dport))
	return b
}

func TestProxyV2PerDatagram(t *testing.T) {
	e := newEcho(t, "")
	h := startProxy(t, Config{Upstreams: backends(e.addr), ProxyOut: 2}, nil)
	c := dial(t, nil, h.addr)
	cport := c.LocalAddr().(*net.UDPAddr).Port
	pport := h.p.Addrs()[0].(*net.UDPAddr).Port
	hdr := v2Header4([4]byte{127, 0, 0, 1}, [4]byte{127, 0, 0, 1}, cport, pport)
	for _, payload := range [][]byte{[]byte("first"), nil, bytes.Repeat([]byte("z"), 3000), []byte("last")} {
		want := append(append([]byte(nil), hdr...), payload...)
		// The echo sends back what it got, header included: the client sees
		// it too, which is what an upstream would do wrong, but makes the
		// test see the bytes twice.
		if got := roundTrip(t, c, payload); !bytes.Equal(got, want) {
			t.Errorf("client got % x, want % x", got, want)
		}
		if got := <-e.got; !bytes.Equal(got, want) {
			t.Errorf("upstream got % x\nwant % x", got, want)
		}
	}
	// Bytes are counted without the header.
	if v := h.metric(t, "sluice_udp_bytes_total", "direction", "upstream"); v != 5+0+3000+4 {
		t.Errorf("bytes up = %v", v)
	}
}

func TestProxyV2WithGSOBatch(t *testing.T) {
	e := newEcho(t, "")
	h := startProxy(t, Config{Upstreams: backends(e.addr), ProxyOut: 2, Workers: 1}, nil)
	c := dial(t, nil, h.addr)
	cport := c.LocalAddr().(*net.UDPAddr).Port
	pport := h.p.Addrs()[0].(*net.UDPAddr).Port
	hdr := v2Header4([4]byte{127, 0, 0, 1}, [4]byte{127, 0, 0, 1}, cport, pport)
	// Several equal datagrams sent before the worker reads: one batch, one
	// GSO message upstream, each segment with its own header.
	payloads := [][]byte{[]byte("aaaa"), []byte("bbbb"), []byte("cccc"), []byte("dd")}
	h.p.do(func(w *worker) {
		for _, p := range payloads {
			if _, err := c.Write(p); err != nil {
				t.Error(err)
			}
		}
	})
	for _, p := range payloads {
		want := append(append([]byte(nil), hdr...), p...)
		if got := <-e.got; !bytes.Equal(got, want) {
			t.Errorf("upstream got % x, want % x", got, want)
		}
		if got := read(t, c); !bytes.Equal(got, want) {
			t.Errorf("client got % x", got)
		}
	}
}
