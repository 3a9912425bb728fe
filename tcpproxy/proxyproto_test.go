package tcpproxy

import (
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"net/netip"
	"testing"

	"github.com/sluice-proxy/sluice/lb"
	"github.com/sluice-proxy/sluice/protocols/proxyproto"
)

// v2TCP4 builds a PROXY v2 PROXY-command TCP over IPv4 header by hand from
// the spec's layout, independent of the code under test.
func v2TCP4(src, dst netip.AddrPort) []byte {
	b := []byte("\r\n\r\n\x00\r\nQUIT\n")
	b = append(b, 0x21, 0x11, 0, 12)
	s, d := src.Addr().As4(), dst.Addr().As4()
	b = append(b, s[:]...)
	b = append(b, d[:]...)
	b = binary.BigEndian.AppendUint16(b, src.Port())
	b = binary.BigEndian.AppendUint16(b, dst.Port())
	return b
}

// recorder is an upstream that reports the first n bytes it reads, then
// echoes the rest.
func recorder(n int, got chan<- []byte) func(net.Conn) {
	return func(c net.Conn) {
		b := make([]byte, n)
		_, err := io.ReadFull(c, b)
		if err != nil {
			got <- nil
			return
		}
		got <- b
		echo(c)
	}
}

// TestProxyInOut takes a PROXY header in (v1 and v2) and sends one out (v1
// and v2): the upstream sees the original client's addresses byte-exact,
// then the client's bytes, including those sent in the header's segment.
func TestProxyInOut(t *testing.T) {
	src := netip.MustParseAddrPort("192.0.2.1:5555")
	dst := netip.MustParseAddrPort("198.51.100.1:80")
	v1In := []byte("PROXY TCP4 192.0.2.1 198.51.100.1 5555 80\r\n")
	v1Out := v1In
	v2In := v2TCP4(src, dst)
	v2Out := v2In
	for _, tc := range []struct {
		name     string
		in       []byte
		out      int
		wantSent []byte
	}{
		{"v1 in, v1 out", v1In, 1, v1Out},
		{"v1 in, v2 out", v1In, 2, v2Out},
		{"v2 in, v1 out", v2In, 1, v1Out},
		{"v2 in, v2 out", v2In, 2, v2Out},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := make(chan []byte, 1)
			u := newUpstream(t, recorder(len(tc.wantSent)+5, got))
			h := startProxy(t, Config{
				Balancer: balancer(t, lb.RoundRobin, u.addr),
				ProxyIn:  &proxyproto.Acceptor{Trusted: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}},
				ProxyOut: tc.out,
			})
			c := dial(t, h.addr)
			// Header and the first client bytes in one write.
			if _, err := c.Write(append(append([]byte{}, tc.in...), "hello"...)); err != nil {
				t.Fatal(err)
			}
			want := append(append([]byte{}, tc.wantSent...), "hello"...)
			if b := <-got; !bytes.Equal(b, want) {
				t.Fatalf("upstream read\n%q\nwant\n%q", b, want)
			}
			roundTrip(t, c, "after header")
		})
	}
}

// TestProxyInRejects: an untrusted peer, a malformed header and a missing
// header each close only that connection, counted by reason; a good client
// at the same time is unaffected.
func TestProxyInRejects(t *testing.T) {
	u := newUpstream(t, echo)
	for _, tc := range []struct {
		name    string
		trusted string
		send    string
		reason  string
	}{
		{"untrusted peer", "10.0.0.0/8", "PROXY TCP4 192.0.2.1 198.51.100.1 5555 80\r\n", "proxy_untrusted"},
		{"malformed v1", "127.0.0.0/8", "PROXY TCP4 192.0.2.1 198.51.100.1 5555\r\n", "proxy_invalid"},
		{"bad v2 family", "127.0.0.0/8", "\r\n\r\n\x00\r\nQUIT\n\x21\x71\x00\x00", "proxy_invalid"},
		{"no header", "127.0.0.0/8", "GET / HTTP/1.1\r\nHost: x\r\n\r\n", "proxy_missing"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := startProxy(t, Config{
				Balancer: balancer(t, lb.RoundRobin, u.addr),
				ProxyIn:  &proxyproto.Acceptor{Trusted: []netip.Prefix{netip.MustParsePrefix(tc.trusted)}},
			})
			var good net.Conn
			if tc.reason != "proxy_untrusted" {
				good = dial(t, h.addr)
				good.Write([]byte("PROXY TCP4 192.0.2.9 198.51.100.1 4444 80\r\n"))
				roundTrip(t, good, "good before")
			}
			bad := dial(t, h.addr)
			bad.Write([]byte(tc.send))
			if b := readAll(t, bad); len(b) != 0 {
				t.Fatalf("rejected connection got %q", b)
			}
			if v := h.metric(t, "sluice_tcp_rejected_total", map[string]string{"reason": tc.reason}); v != 1 {
				t.Errorf("rejected{%s} = %v, want 1", tc.reason, v)
			}
			if tc.reason != "proxy_untrusted" {
				roundTrip(t, good, "good after")
			}
		})
	}
}
