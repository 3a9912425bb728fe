package proxyproto

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"testing"

	"github.com/sluice-proxy/sluice/vstream"
)

func tcp(s string) *net.TCPAddr { return net.TCPAddrFromAddrPort(netip.MustParseAddrPort(s)) }
func udp(s string) *net.UDPAddr { return net.UDPAddrFromAddrPort(netip.MustParseAddrPort(s)) }

// hexv2 is the spec's v2 signature followed by hand-written bytes.
func hexv2(rest ...byte) []byte { return append([]byte("\r\n\r\n\x00\r\nQUIT\n"), rest...) }

func TestFormat(t *testing.T) {
	mapped := &net.TCPAddr{IP: net.ParseIP("192.168.0.1"), Port: 56324} // 16-byte IPv4-mapped form
	tests := []struct {
		name     string
		version  int
		src, dst net.Addr
		tlvs     []vstream.TLV
		want     []byte
	}{
		{"v1 tcp4", 1, tcp("192.168.0.1:56324"), tcp("192.168.0.11:443"), nil,
			[]byte("PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n")},
		{"v1 tcp4 from mapped", 1, mapped, tcp("192.168.0.11:443"), nil,
			[]byte("PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n")},
		{"v1 tcp6", 1, tcp("[2001:db8::1]:56324"), tcp("[2001:db8::11]:443"), nil,
			[]byte("PROXY TCP6 2001:db8::1 2001:db8::11 56324 443\r\n")},
		{"v1 mixed families", 1, tcp("192.168.0.1:56324"), tcp("[2001:db8::11]:443"), nil,
			[]byte("PROXY TCP6 ::ffff:192.168.0.1 2001:db8::11 56324 443\r\n")},
		{"v1 zone dropped", 1, tcp("[fe80::1%eth0]:56324"), tcp("[fe80::2%eth0]:443"), nil,
			[]byte("PROXY TCP6 fe80::1 fe80::2 56324 443\r\n")},
		{"v1 unix", 1, &net.UnixAddr{Name: "/a", Net: "unix"}, &net.UnixAddr{Name: "/b", Net: "unix"}, nil,
			[]byte("PROXY UNKNOWN\r\n")},
		{"v1 nil", 1, nil, nil, nil, []byte("PROXY UNKNOWN\r\n")},
		{"v1 typed nil", 1, (*net.TCPAddr)(nil), tcp("192.168.0.11:443"), nil, []byte("PROXY UNKNOWN\r\n")},
		{"v1 tcp and udp", 1, tcp("192.168.0.1:56324"), udp("192.168.0.11:443"), nil, []byte("PROXY UNKNOWN\r\n")},
		{"v1 udp", 1, udp("192.168.0.1:56324"), udp("192.168.0.11:443"), nil, []byte("PROXY UNKNOWN\r\n")},
		{"v2 tcp4", 2, tcp("192.168.0.1:56324"), tcp("192.168.0.11:443"), nil,
			hexv2(0x21, 0x11, 0x00, 0x0c, 192, 168, 0, 1, 192, 168, 0, 11, 0xdc, 0x04, 0x01, 0xbb)},
		{"v2 tcp6", 2, tcp("[2001:db8::1]:56324"), tcp("[2001:db8::11]:443"), nil,
			hexv2(0x21, 0x21, 0x00, 0x24,
				0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01,
				0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x11,
				0xdc, 0x04, 0x01, 0xbb)},
		{"v2 mixed families", 2, tcp("192.168.0.1:56324"), tcp("[2001:db8::11]:443"), nil,
			hexv2(0x21, 0x21, 0x00, 0x24,
				0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 168, 0, 1,
				0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x11,
				0xdc, 0x04, 0x01, 0xbb)},
		{"v2 udp4", 2, udp("192.168.0.1:56324"), udp("192.168.0.11:443"), nil,
			hexv2(0x21, 0x12, 0x00, 0x0c, 192, 168, 0, 1, 192, 168, 0, 11, 0xdc, 0x04, 0x01, 0xbb)},
		{"v2 tcp4 tlvs", 2, tcp("192.168.0.1:56324"), tcp("192.168.0.11:443"),
			[]vstream.TLV{{Type: 0x01, Value: []byte("h2")}, {Type: 0x02, Value: []byte("a.example")}},
			hexv2(0x21, 0x11, 0x00, 0x0c+5+12, 192, 168, 0, 1, 192, 168, 0, 11, 0xdc, 0x04, 0x01, 0xbb,
				0x01, 0x00, 0x02, 'h', '2',
				0x02, 0x00, 0x09, 'a', '.', 'e', 'x', 'a', 'm', 'p', 'l', 'e')},
		{"v2 local", 2, nil, nil, nil, hexv2(0x20, 0x00, 0x00, 0x00)},
		{"v2 local with tlv", 2, &net.UnixAddr{Name: "/a", Net: "unix"}, &net.UnixAddr{Name: "/b", Net: "unix"},
			[]vstream.TLV{{Type: 0xe0, Value: []byte{7}}},
			hexv2(0x20, 0x00, 0x00, 0x04, 0xe0, 0x00, 0x01, 7)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Format(tt.version, tt.src, tt.dst, tt.tlvs)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, tt.want) {
				t.Errorf("Format =\n%q\nwant\n%q", got, tt.want)
			}
			var buf bytes.Buffer
			if err := WriteHeader(&buf, tt.version, tt.src, tt.dst, tt.tlvs); err != nil || !bytes.Equal(buf.Bytes(), tt.want) {
				t.Errorf("WriteHeader = %q, %v", buf.Bytes(), err)
			}
		})
	}
}

func TestFormatErrors(t *testing.T) {
	a, b := tcp("192.168.0.1:1"), tcp("192.168.0.2:2")
	tests := []struct {
		name     string
		version  int
		src, dst net.Addr
		tlvs     []vstream.TLV
	}{
		{"version 0", 0, a, b, nil},
		{"version 3", 3, a, b, nil},
		{"v1 with tlvs", 1, a, b, []vstream.TLV{{Type: 1}}},
		{"v1 port too big", 1, &net.TCPAddr{IP: net.IPv4(1, 2, 3, 4), Port: 70000}, b, nil},
		{"v2 negative port", 2, &net.TCPAddr{IP: net.IPv4(1, 2, 3, 4), Port: -1}, b, nil},
		{"tlv too long", 2, a, b, []vstream.TLV{{Type: 0xe0, Value: make([]byte, 65536)}}},
		{"header too long", 2, a, b, []vstream.TLV{{Type: 0xe0, Value: make([]byte, 65535-3)}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, err := Format(tt.version, tt.src, tt.dst, tt.tlvs); err == nil {
				t.Errorf("Format = %q, want an error", got)
			}
			var buf bytes.Buffer
			if err := WriteHeader(&buf, tt.version, tt.src, tt.dst, tt.tlvs); err == nil || buf.Len() != 0 {
				t.Errorf("WriteHeader wrote %d bytes, err %v", buf.Len(), err)
			}
		})
	}
}

type shortWriter struct{}

func (shortWriter) Write(p []byte) (int, error) { return len(p) / 2, nil }

type failWriter struct{ err error }

func (f failWriter) Write([]byte) (int, error) { return 0, f.err }

func TestWriteHeaderWriteErrors(t *testing.T) {
	a, b := tcp("192.168.0.1:1"), tcp("192.168.0.2:2")
	if err := WriteHeader(shortWriter{}, 1, a, b, nil); !errors.Is(err, io.ErrShortWrite) {
		t.Errorf("short write: %v", err)
	}
	boom := errors.New("boom")
	if err := WriteHeader(failWriter{boom}, 2, a, b, nil); !errors.Is(err, boom) {
		t.Errorf("failing writer: %v", err)
	}
}

// TestFormatAcceptRoundTrip sends what Format produces over a real socket and
// checks Accept gives back the same addresses and TLVs.
func TestFormatAcceptRoundTrip(t *testing.T) {
	tlvs := []vstream.TLV{{Type: 0x01, Value: []byte("http/1.1")}, {Type: 0xe5, Value: bytes.Repeat([]byte{9}, 1000)}}
	tests := []struct {
		version  int
		src, dst net.Addr
		tlvs     []vstream.TLV
		local    bool
	}{
		{1, tcp("203.0.113.9:40000"), tcp("198.51.100.1:25"), nil, false},
		{1, tcp("[2001:db8::9]:40000"), tcp("[2001:db8::1]:25"), nil, false},
		{1, tcp("203.0.113.9:40000"), tcp("[2001:db8::1]:25"), nil, false},
		{1, nil, nil, nil, true},
		{2, tcp("203.0.113.9:40000"), tcp("198.51.100.1:25"), tlvs, false},
		{2, tcp("[2001:db8::9]:0"), tcp("[2001:db8::1]:65535"), tlvs, false},
		{2, tcp("203.0.113.9:40000"), tcp("[2001:db8::1]:25"), nil, false},
		{2, udp("203.0.113.9:53"), udp("198.51.100.1:53"), nil, false},
		{2, nil, nil, tlvs, true},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("v%d %v-%v", tt.version, tt.src, tt.dst), func(t *testing.T) {
			client, server := tcpPair(t)
			if err := WriteHeader(client, tt.version, tt.src, tt.dst, tt.tlvs); err != nil {
				t.Fatal(err)
			}
			client.Write([]byte("hello"))
			c, h, err := (&Acceptor{}).Accept(server)
			if err != nil {
				t.Fatal(err)
			}
			if h.Version != tt.version || h.Local != tt.local {
				t.Errorf("header v%d local=%v", h.Version, h.Local)
			}
			if !tt.local {
				if h.Source != vstream.AddrPort(tt.src) || h.Dest != vstream.AddrPort(tt.dst) {
					t.Errorf("addresses %v -> %v, want %v -> %v", h.Source, h.Dest, tt.src, tt.dst)
				}
				if h.SourceAddr().Network() != tt.src.Network() {
					t.Errorf("SourceAddr network %q, want %q", h.SourceAddr().Network(), tt.src.Network())
				}
			}
			if !equalTLVs(h.TLVs, tt.tlvs) {
				t.Errorf("TLVs = %v, want %v", h.TLVs, tt.tlvs)
			}
			client.CloseWrite()
			if got := readAllThrough(t, c); string(got) != "hello" {
				t.Errorf("data = %q", got)
			}
		})
	}
}

func TestParseVersion(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want int
		ok   bool
	}{
		{"", 0, true}, {"v1", 1, true}, {"1", 1, true}, {"v2", 2, true}, {"2", 2, true},
		{"v3", 0, false}, {"V1", 0, false}, {"off", 0, false}, {" v1", 0, false},
	} {
		got, err := ParseVersion(tt.in)
		if got != tt.want || (err == nil) != tt.ok {
			t.Errorf("ParseVersion(%q) = %d, %v", tt.in, got, err)
		}
	}
}
