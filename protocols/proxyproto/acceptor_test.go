package proxyproto

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/sluice-proxy/sluice/vstream"
)

var (
	addr4a = []byte{192, 168, 0, 1}
	addr4b = []byte{192, 168, 0, 11}
	addr6a = netip.MustParseAddr("2001:db8::1").AsSlice()
	addr6b = netip.MustParseAddr("2001:db8::11").AsSlice()
	ports  = []byte{0xdc, 0x04, 0x01, 0xbb} // 56324, 443
)

func TestAcceptValid(t *testing.T) {
	bigTLV := bytes.Repeat([]byte("c"), 3000)
	unixName := func(s string) []byte { b := make([]byte, 108); copy(b, s); return b }
	tests := []struct {
		name      string
		header    []byte
		version   int
		local     bool
		transport string
		src, dst  string // netip.AddrPort; "" for zero
		tlvs      []vstream.TLV
	}{
		{"v1 tcp4", []byte("PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n"), 1, false, "tcp4",
			"192.168.0.1:56324", "192.168.0.11:443", nil},
		{"v1 tcp6", []byte("PROXY TCP6 2001:db8::1 2001:db8::11 56324 443\r\n"), 1, false, "tcp6",
			"[2001:db8::1]:56324", "[2001:db8::11]:443", nil},
		{"v1 tcp6 mapped", []byte("PROXY TCP6 ::ffff:192.168.0.1 2001:db8::11 56324 443\r\n"), 1, false, "tcp6",
			"192.168.0.1:56324", "[2001:db8::11]:443", nil},
		{"v1 longest", []byte("PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n"),
			1, false, "tcp6", "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535", "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535", nil},
		{"v1 unknown", []byte("PROXY UNKNOWN\r\n"), 1, true, "", "", "", nil},
		{"v1 unknown with addresses", []byte("PROXY UNKNOWN ffff:f::f ffff:f::f 65535 65535\r\n"), 1, true, "", "", "", nil},
		{"v2 tcp4", v2(0x21, 0x11, addr4a, addr4b, ports), 2, false, "tcp4",
			"192.168.0.1:56324", "192.168.0.11:443", nil},
		{"v2 tcp6", v2(0x21, 0x21, addr6a, addr6b, ports), 2, false, "tcp6",
			"[2001:db8::1]:56324", "[2001:db8::11]:443", nil},
		{"v2 udp4", v2(0x21, 0x12, addr4a, addr4b, ports), 2, false, "udp4",
			"192.168.0.1:56324", "192.168.0.11:443", nil},
		{"v2 tcp4 tlvs", v2(0x21, 0x11, addr4a, addr4b, ports,
			tlv(0x01, []byte("h2")), tlv(0x04, []byte{0, 0, 0}), tlv(0x02, []byte("example.com")), tlv(0xe0, nil)),
			2, false, "tcp4", "192.168.0.1:56324", "192.168.0.11:443",
			[]vstream.TLV{{Type: 0x01, Value: []byte("h2")}, {Type: 0x02, Value: []byte("example.com")}, {Type: 0xe0, Value: []byte{}}}},
		{"v2 tcp6 tlvs", v2(0x21, 0x21, addr6a, addr6b, ports, tlv(0x05, []byte("id-1"))), 2, false, "tcp6",
			"[2001:db8::1]:56324", "[2001:db8::11]:443", []vstream.TLV{{Type: 0x05, Value: []byte("id-1")}}},
		{"v2 large tlv", v2(0x21, 0x11, addr4a, addr4b, ports, tlv(0x28, bigTLV)), 2, false, "tcp4",
			"192.168.0.1:56324", "192.168.0.11:443", []vstream.TLV{{Type: 0x28, Value: bigTLV}}},
		{"v2 local", v2(0x20, 0x00), 2, true, "", "", "", nil},
		{"v2 local with address block", v2(0x20, 0x11, addr4a, addr4b, ports), 2, true, "", "", "", nil},
		{"v2 local short block", v2(0x20, 0x11, []byte{1, 2, 3}), 2, true, "", "", "", nil},
		{"v2 unix", v2(0x21, 0x31, unixName("/run/a.sock"), unixName("/run/b.sock")), 2, false, "unix", "", "", nil},
	}
	data := []byte("EHLO there\r\nsecond line, with \x00 and \xff\r\n")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client, c, h, err := acceptBytes(t, &Acceptor{}, cat(tt.header, data))
			if err != nil {
				t.Fatalf("Accept: %v", err)
			}
			if h.Version != tt.version || h.Local != tt.local || h.Transport != tt.transport {
				t.Errorf("header = v%d local=%v transport=%q, want v%d local=%v transport=%q",
					h.Version, h.Local, h.Transport, tt.version, tt.local, tt.transport)
			}
			if got := apString(h.Source); got != tt.src {
				t.Errorf("Source = %q, want %q", got, tt.src)
			}
			if got := apString(h.Dest); got != tt.dst {
				t.Errorf("Dest = %q, want %q", got, tt.dst)
			}
			if !equalTLVs(h.TLVs, tt.tlvs) {
				t.Errorf("TLVs = %v, want %v", h.TLVs, tt.tlvs)
			}
			if c.Header() != h {
				t.Error("Conn.Header differs from the returned header")
			}
			wantRemote, wantLocal := c.Unwrap().RemoteAddr().String(), c.Unwrap().LocalAddr().String()
			switch {
			case tt.src != "":
				wantRemote, wantLocal = tt.src, tt.dst
			case tt.transport == "unix":
				wantRemote, wantLocal = "/run/a.sock", "/run/b.sock"
			}
			if c.RemoteAddr().String() != wantRemote || c.LocalAddr().String() != wantLocal {
				t.Errorf("addrs = %v -> %v, want %v -> %v", c.RemoteAddr(), c.LocalAddr(), wantRemote, wantLocal)
			}
			if _, err := client.Write([]byte("more")); err != nil {
				t.Fatal(err)
			}
			client.CloseWrite()
			if got, want := readAllThrough(t, c), cat(data, []byte("more")); !bytes.Equal(got, want) {
				t.Errorf("data = %q, want %q", got, want)
			}
		})
	}
}

func apString(a netip.AddrPort) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

func equalTLVs(a, b []vstream.TLV) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Type != b[i].Type || !bytes.Equal(a[i].Value, b[i].Value) {
			return false
		}
	}
	return true
}

func TestAcceptInvalid(t *testing.T) {
	tests := []struct {
		name  string
		input []byte
		max   int
	}{
		{"v1 no CR", []byte("PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\n"), 0},
		{"v1 missing port", []byte("PROXY TCP4 192.168.0.1 192.168.0.11 56324\r\n"), 0},
		{"v1 extra field", []byte("PROXY TCP4 192.168.0.1 192.168.0.11 56324 443 1\r\n"), 0},
		{"v1 bad address", []byte("PROXY TCP4 256.168.0.1 192.168.0.11 56324 443\r\n"), 0},
		{"v1 family mismatch", []byte("PROXY TCP4 2001:db8::1 192.168.0.11 56324 443\r\n"), 0},
		{"v1 v4 in TCP6", []byte("PROXY TCP6 192.168.0.1 2001:db8::1 56324 443\r\n"), 0},
		{"v1 zone", []byte("PROXY TCP6 fe80::1%eth0 2001:db8::1 56324 443\r\n"), 0},
		{"v1 unknown protocol", []byte("PROXY UDP4 192.168.0.1 192.168.0.11 56324 443\r\n"), 0},
		{"v1 port too big", []byte("PROXY TCP4 192.168.0.1 192.168.0.11 65536 443\r\n"), 0},
		{"v1 port leading zero", []byte("PROXY TCP4 192.168.0.1 192.168.0.11 0443 443\r\n"), 0},
		{"v1 negative port", []byte("PROXY TCP4 192.168.0.1 192.168.0.11 -1 443\r\n"), 0},
		{"v1 double space", []byte("PROXY  TCP4 192.168.0.1 192.168.0.11 56324 443\r\n"), 0},
		{"v1 glued signature", []byte("PROXYTCP4 192.168.0.1 192.168.0.11 56324 443\r\n"), 0},
		{"v1 empty", []byte("PROXY\r\n"), 0},
		{"v1 too long", []byte("PROXY UNKNOWN " + strings.Repeat("a", 200) + "\r\n"), 0},
		{"v1 too long no newline", []byte("PROXY " + strings.Repeat("1", 101)), 0},
		{"v2 version 1", v2(0x11, 0x11, addr4a, addr4b, ports), 0},
		{"v2 version 3", v2(0x31, 0x11, addr4a, addr4b, ports), 0},
		{"v2 command 2", v2(0x22, 0x11, addr4a, addr4b, ports), 0},
		{"v2 family 0x13", v2(0x21, 0x13, addr4a, addr4b, ports), 0},
		{"v2 family 0x41", v2(0x21, 0x41, addr4a, addr4b, ports), 0},
		{"v2 proxy unspec", v2(0x21, 0x00), 0},
		{"v2 tcp4 short", v2(0x21, 0x11, addr4a), 0},
		{"v2 tcp6 with v4 block", v2(0x21, 0x21, addr4a, addr4b, ports), 0},
		{"v2 truncated tlv", v2(0x21, 0x11, addr4a, addr4b, ports, []byte{0x01, 0x00}), 0},
		{"v2 tlv overruns", v2(0x21, 0x11, addr4a, addr4b, ports, []byte{0x01, 0x00, 0x09, 'x'}), 0},
		{"v2 over default cap", v2(0x21, 0x11, addr4a, addr4b, ports, tlv(0xe0, make([]byte, 4096-16-12-3+1))), 0},
		{"v2 max length", v2(0x21, 0x11, addr4a, addr4b, ports, tlv(0xe0, make([]byte, 65535-12-3))), 0},
		{"v2 over custom cap", v2(0x21, 0x11, addr4a, addr4b, ports, tlv(0xe0, make([]byte, 100))), 64},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, c, h, err := acceptBytes(t, &Acceptor{MaxHeaderBytes: tt.max}, tt.input)
			if !errors.Is(err, ErrInvalidHeader) {
				t.Fatalf("Accept = %v, %+v, %v; want ErrInvalidHeader", c, h, err)
			}
			if errors.Is(err, ErrNoHeader) || errors.Is(err, ErrTimeout) {
				t.Errorf("error %v matches more than ErrInvalidHeader", err)
			}
			if strings.Contains(tt.name, "cap") || strings.Contains(tt.name, "max length") {
				if !strings.Contains(err.Error(), "too large") {
					t.Errorf("error %q does not say too large", err)
				}
			}
		})
	}
}

func TestAcceptHeaderAtTheCap(t *testing.T) {
	// 16 + 12 + 3 + 4065 = 4096 bytes: exactly DefaultMaxHeaderBytes.
	value := bytes.Repeat([]byte{0xab}, 4096-16-12-3)
	header := v2(0x21, 0x11, addr4a, addr4b, ports, tlv(0xe0, value))
	if len(header) != DefaultMaxHeaderBytes {
		t.Fatalf("test header is %d bytes", len(header))
	}
	client, c, h, err := acceptBytes(t, &Acceptor{}, cat(header, []byte("after")))
	if err != nil {
		t.Fatal(err)
	}
	if len(h.TLVs) != 1 || !bytes.Equal(h.TLVs[0].Value, value) {
		t.Errorf("TLV not delivered intact")
	}
	client.CloseWrite()
	if got := readAllThrough(t, c); string(got) != "after" {
		t.Errorf("data = %q", got)
	}
}

func TestAcceptNoHeader(t *testing.T) {
	for _, input := range []string{
		"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
		"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
		"PROXX TCP4 192.168.0.1 192.168.0.11 56324 443\r\n",
		"proxy TCP4 192.168.0.1 192.168.0.11 56324 443\r\n",
		"\r\n\r\n\x00\r\nQUIX\n\x21\x11\x00\x0c",
		"\r\n\r\nX",
		"\x00",
	} {
		t.Run(strings.ToValidUTF8(input[:min(len(input), 8)], "?"), func(t *testing.T) {
			_, _, _, err := acceptBytes(t, &Acceptor{}, []byte(input))
			if !errors.Is(err, ErrNoHeader) {
				t.Fatalf("Accept error = %v, want ErrNoHeader", err)
			}
		})
	}
}

func TestAcceptTimeout(t *testing.T) {
	for _, tt := range []struct{ name, input string }{
		{"silent", ""},
		{"partial signature v1", "PRO"},
		{"partial v1 line", "PROXY TCP4 192.168.0.1 192.168.0.11 5632"},
		{"partial signature v2", "\r\n\r\n\x00\r\nQU"},
		{"partial v2 prefix", "\r\n\r\n\x00\r\nQUIT\n\x21\x11"},
		{"partial v2 payload", string(v2(0x21, 0x11, addr4a, addr4b, ports)[:22])},
		{"partial v2 large tlv", string(v2(0x21, 0x11, addr4a, addr4b, ports, tlv(0xe0, make([]byte, 2000)))[:1500])},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, _, _, err := acceptBytes(t, &Acceptor{HeaderTimeout: 50 * time.Millisecond}, []byte(tt.input))
			if !errors.Is(err, ErrTimeout) || !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("Accept error = %v, want ErrTimeout wrapping os.ErrDeadlineExceeded", err)
			}
		})
	}
}

func TestAcceptClosed(t *testing.T) {
	for _, tt := range []struct {
		name  string
		input string
		want  error
	}{
		{"nothing", "", io.EOF},
		{"partial signature", "PROX", io.ErrUnexpectedEOF},
		{"partial v1 line", "PROXY TCP4 192.168.0.1 ", io.ErrUnexpectedEOF},
		{"partial v2 prefix", "\r\n\r\n\x00\r\nQUIT\n\x21", io.ErrUnexpectedEOF},
		{"partial v2 payload", string(v2(0x21, 0x21, addr6a, addr6b, ports)[:30]), io.ErrUnexpectedEOF},
		{"partial v2 tlvs", string(v2(0x21, 0x11, addr4a, addr4b, ports, tlv(0xe0, make([]byte, 600)))[:400]), io.ErrUnexpectedEOF},
	} {
		t.Run(tt.name, func(t *testing.T) {
			client, server := tcpPair(t)
			client.Write([]byte(tt.input))
			client.CloseWrite()
			_, _, err := (&Acceptor{}).Accept(server)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Accept error = %v, want %v", err, tt.want)
			}
			if errors.Is(err, ErrInvalidHeader) || errors.Is(err, ErrNoHeader) || errors.Is(err, ErrTimeout) {
				t.Errorf("error %v also matches a rejection error", err)
			}
		})
	}
}

// readNotifier reports each Read on the server socket, so a test can write
// the rest of a header only after the acceptor has consumed the first part.
type readNotifier struct {
	net.Conn
	reads chan int
}

func (r *readNotifier) Read(p []byte) (int, error) {
	n, err := r.Conn.Read(p)
	r.reads <- n
	return n, err
}

func TestAcceptSplitHeader(t *testing.T) {
	for _, tt := range []struct {
		name   string
		header []byte
		cut    []int
	}{
		{"v1", []byte("PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n"), []int{3, 20, 46}},
		{"v2", v2(0x21, 0x11, addr4a, addr4b, ports, tlv(0x01, []byte("h2"))), []int{5, 14, 20, 30}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			client, server := tcpPair(t)
			rn := &readNotifier{Conn: server, reads: make(chan int, 16)}
			type result struct {
				c   *Conn
				h   *Header
				err error
			}
			done := make(chan result, 1)
			go func() {
				c, h, err := (&Acceptor{}).Accept(rn)
				done <- result{c, h, err}
			}()
			input := cat(tt.header, []byte("data"))
			prev := 0
			for _, cut := range append(tt.cut, len(input)) {
				if _, err := client.Write(input[prev:cut]); err != nil {
					t.Fatal(err)
				}
				prev = cut
				if cut < len(input) {
					<-rn.reads // the acceptor has consumed what was sent
				}
			}
			r := <-done
			if r.err != nil {
				t.Fatalf("Accept: %v", r.err)
			}
			if r.h.Source.String() != "192.168.0.1:56324" {
				t.Errorf("Source = %v", r.h.Source)
			}
			client.CloseWrite()
			go func() { // drain notifications for reads after Accept
				for range rn.reads {
				}
			}()
			got := readAllThrough(t, r.c)
			close(rn.reads)
			if string(got) != "data" {
				t.Errorf("data = %q", got)
			}
		})
	}
}

func TestAcceptClearsDeadline(t *testing.T) {
	const timeout = 50 * time.Millisecond
	client, c, _, err := acceptBytes(t, &Acceptor{HeaderTimeout: timeout},
		[]byte("PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	// Send only after the header deadline would have expired: a deadline
	// left in place fails the Read below before the data is sent.
	timer := time.AfterFunc(3*timeout, func() { client.Write([]byte("late")) })
	defer timer.Stop()
	p := make([]byte, 4)
	if _, err := io.ReadFull(c, p); err != nil || string(p) != "late" {
		t.Fatalf("read after header = %q, %v", p, err)
	}
}

func TestTrusts(t *testing.T) {
	a := &Acceptor{Trusted: []netip.Prefix{
		netip.MustParsePrefix("10.0.0.0/8"),
		netip.MustParsePrefix("2001:db8::/32"),
		netip.MustParsePrefix("::ffff:192.168.1.0/120"),
	}}
	for _, tt := range []struct {
		addr string
		want bool
	}{
		{"10.1.2.3", true},
		{"11.0.0.1", false},
		{"::ffff:10.1.2.3", true},
		{"2001:db8::5", true},
		{"2001:db8::5%eth0", true},
		{"2001:db9::5", false},
		{"192.168.1.7", true},
		{"::ffff:192.168.1.7", true},
		{"192.168.2.7", false},
		{"127.0.0.1", false},
	} {
		if got := a.Trusts(netip.MustParseAddr(tt.addr)); got != tt.want {
			t.Errorf("Trusts(%s) = %v, want %v", tt.addr, got, tt.want)
		}
	}
	if (&Acceptor{}).Trusts(netip.MustParseAddr("10.0.0.1")) {
		t.Error("an empty Trusted list trusts a peer")
	}
	if a.Trusts(netip.Addr{}) {
		t.Error("the zero Addr is trusted")
	}
}
