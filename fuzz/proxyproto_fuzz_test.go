package fuzz

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sluice-proxy/sluice/protocols/proxyproto"
	"github.com/sluice-proxy/sluice/vstream"
)

// proxyHeaderSeeds are FuzzProxyHeader's seeds: the spec's examples, each
// header kind with and without payload, truncated and malformed ones. Each
// also lives in testdata/fuzz/FuzzProxyHeader/<name>; TestProxyHeaderCorpus
// keeps the two in step (SLUICE_UPDATE_CORPUS=1 rewrites the files).
func proxyHeaderSeeds() map[string][]byte {
	sig := "\r\n\r\n\x00\r\nQUIT\n"
	v4 := "\xc0\xa8\x00\x01\xc0\xa8\x00\x0b\xdc\x04\x01\xbb"
	v6 := "\x20\x01\x0d\xb8" + strings.Repeat("\x00", 11) + "\x01" +
		"\x20\x01\x0d\xb8" + strings.Repeat("\x00", 11) + "\x11" + "\xdc\x04\x01\xbb"
	unixName := "/run/lb.sock" + strings.Repeat("\x00", 108-12)
	tlvs := "\x01\x00\x02h2" + "\x02\x00\x0bexample.com" + "\x04\x00\x03\x00\x00\x00" +
		"\x20\x00\x0b\x01\x00\x00\x00\x00" + "\x21\x00\x03TLS" + "\xe0\x00\x00"
	v2 := func(cmd, fam string, payload string) []byte {
		b := []byte(sig + cmd + fam)
		b = binary.BigEndian.AppendUint16(b, uint16(len(payload)))
		return append(b, payload...)
	}
	with := func(b []byte, s string) []byte { return append(b, s...) }
	return map[string][]byte{
		"v1-tcp4":           []byte("PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\nGET / HTTP/1.1\r\nHost: example.com\r\n\r\n"),
		"v1-tcp6":           []byte("PROXY TCP6 2001:db8::1 2001:db8::11 56324 443\r\nhello"),
		"v1-tcp6-mapped":    []byte("PROXY TCP6 ::ffff:192.168.0.1 2001:db8::11 56324 443\r\n"),
		"v1-tcp6-longest":   []byte("PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\nx"),
		"v1-unknown":        []byte("PROXY UNKNOWN\r\nEHLO"),
		"v1-unknown-spec":   []byte("PROXY UNKNOWN ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n"),
		"v1-truncated":      []byte("PROXY TCP4 192.168.0.1 192.1"),
		"v1-no-cr":          []byte("PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\ndata"),
		"v1-bad-port":       []byte("PROXY TCP4 192.168.0.1 192.168.0.11 056324 443\r\n"),
		"v1-too-long":       []byte("PROXY UNKNOWN " + strings.Repeat("f", 120) + "\r\n"),
		"v2-tcp4":           with(v2("\x21", "\x11", v4), "payload"),
		"v2-tcp6":           v2("\x21", "\x21", v6),
		"v2-tcp4-tlvs":      with(v2("\x21", "\x11", v4+tlvs), "\x16\x03\x01"),
		"v2-tcp6-tlvs":      v2("\x21", "\x21", v6+tlvs),
		"v2-udp4":           v2("\x21", "\x12", v4),
		"v2-unix":           v2("\x21", "\x31", unixName+unixName),
		"v2-local":          with(v2("\x20", "\x00", ""), "health"),
		"v2-local-tcp4":     v2("\x20", "\x11", v4+"\x01\x00\x02h2"),
		"v2-local-short":    v2("\x20", "\x11", "\x01\x02\x03"),
		"v2-truncated":      v2("\x21", "\x11", v4)[:20],
		"v2-truncated-tlv":  v2("\x21", "\x11", v4+"\x01\x00\x09ab"),
		"v2-bad-family":     v2("\x21", "\x13", v4),
		"v2-proxy-unspec":   v2("\x21", "\x00", ""),
		"v2-bad-command":    v2("\x22", "\x11", v4),
		"v2-length-too-big": []byte(sig + "\x21\x11\xff\xff" + v4),
		"http":              []byte("GET / HTTP/1.1\r\nHost: example.com\r\n\r\n"),
		"empty":             {},
	}
}

// FuzzProxyHeader feeds arbitrary bytes, as a connection's first bytes, to
// proxyproto.Acceptor.Accept. The input is a header followed by payload; it is
// delivered twice, in one read and one byte per read, and both must agree.
// On success the payload must come back exactly and the header must survive
// Format and a second Accept.
func FuzzProxyHeader(f *testing.F) {
	for _, seed := range proxyHeaderSeeds() {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		whole := acceptMem(t, in, len(in)+1)
		trickle := acceptMem(t, in, 1)
		if whole.class != trickle.class {
			t.Fatalf("one read: %v; byte by byte: %v", whole.err, trickle.err)
		}
		if whole.err != nil {
			return
		}
		if !reflect.DeepEqual(whole.h, trickle.h) || !bytes.Equal(whole.payload, trickle.payload) {
			t.Fatalf("one read and byte by byte disagree:\n%+v %q\n%+v %q", whole.h, whole.payload, trickle.h, trickle.payload)
		}
		h := whole.h
		n := headerLen(t, in)
		if !bytes.Equal(whole.payload, in[n:]) {
			t.Fatalf("payload = %q, want %q (header is %d bytes)", whole.payload, in[n:], n)
		}
		checkHeader(t, h)
		if h.Local || h.Transport == proxyproto.TransportUnix || h.Transport == proxyproto.TransportUnixgram {
			return // Format announces neither: it writes UNKNOWN or LOCAL
		}
		var tlvs []vstream.TLV
		if h.Version == 2 {
			tlvs = h.TLVs
		}
		out, err := proxyproto.Format(h.Version, h.SourceAddr(), h.DestAddr(), tlvs)
		if err != nil {
			t.Fatalf("Format of accepted %+v: %v", h, err)
		}
		again := acceptMem(t, out, len(out)+1)
		if again.err != nil {
			t.Fatalf("Format output %q not accepted: %v", out, again.err)
		}
		if again.h.Source != h.Source || again.h.Dest != h.Dest || again.h.Transport[:3] != h.Transport[:3] {
			t.Fatalf("round trip %q: %v -> %v %s, want %v -> %v %s", out,
				again.h.Source, again.h.Dest, again.h.Transport, h.Source, h.Dest, h.Transport)
		}
		if !reflect.DeepEqual(again.h.TLVs, tlvs) {
			t.Fatalf("round trip TLVs %v, want %v", again.h.TLVs, tlvs)
		}
	})
}

// accepted is the outcome of one Accept over a memConn.
type accepted struct {
	h       *proxyproto.Header
	payload []byte
	err     error
	class   string
}

// acceptMem runs Accept over in, served at most chunk bytes per Read, and
// reads the Conn to EOF on success.
func acceptMem(t *testing.T, in []byte, chunk int) accepted {
	t.Helper()
	mc := &memConn{data: in, chunk: chunk}
	c, h, err := (&proxyproto.Acceptor{}).Accept(mc)
	if err != nil {
		if c != nil || h != nil {
			t.Fatalf("Accept returned a Conn or Header with error %v", err)
		}
		return accepted{err: err, class: errorClass(t, err)}
	}
	if mc.deadline != (time.Time{}) {
		t.Fatal("Accept left a read deadline set")
	}
	if b := c.Buffered(); b > len(in) || b < 0 {
		t.Fatalf("Buffered = %d for %d input bytes", b, len(in))
	}
	if c.Unwrap() != net.Conn(mc) {
		t.Fatal("Unwrap does not return the accepted connection")
	}
	payload, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("reading past the header: %v", err)
	}
	return accepted{h: h, payload: payload, class: "ok"}
}

// errorClass names the one documented error an Accept failure matches.
func errorClass(t *testing.T, err error) string {
	t.Helper()
	var classes []string
	for _, c := range []struct {
		name string
		err  error
	}{
		{"no header", proxyproto.ErrNoHeader},
		{"invalid", proxyproto.ErrInvalidHeader},
		{"timeout", proxyproto.ErrTimeout},
		{"eof", io.EOF},
		{"truncated", io.ErrUnexpectedEOF},
	} {
		if errors.Is(err, c.err) {
			classes = append(classes, c.name)
		}
	}
	if len(classes) != 1 {
		t.Fatalf("error %q matches %v, want exactly one documented error", err, classes)
	}
	if classes[0] == "timeout" {
		t.Fatalf("timeout on an in-memory connection that never blocks: %v", err)
	}
	return classes[0]
}

// headerLen finds the header's length in in independently of the parser: up
// to the first LF for v1, the v2 prefix plus its length field for v2.
func headerLen(t *testing.T, in []byte) int {
	t.Helper()
	switch {
	case bytes.HasPrefix(in, []byte("PROXY ")):
		if i := bytes.IndexByte(in, '\n'); i >= 0 && i < 107 {
			return i + 1
		}
	case bytes.HasPrefix(in, []byte("\r\n\r\n\x00\r\nQUIT\n")) && len(in) >= 16:
		if n := 16 + int(binary.BigEndian.Uint16(in[14:16])); n <= len(in) {
			return n
		}
	}
	t.Fatalf("accepted %q, which does not start with a whole PROXY header", in)
	return 0
}

// checkHeader checks an accepted header is self-consistent.
func checkHeader(t *testing.T, h *proxyproto.Header) {
	t.Helper()
	if h.Version != 1 && h.Version != 2 {
		t.Fatalf("Version = %d", h.Version)
	}
	if h.Version == 1 && h.TLVs != nil {
		t.Fatalf("v1 header with TLVs %v", h.TLVs)
	}
	for _, tlv := range h.TLVs {
		if tlv.Type == 0x04 {
			t.Fatal("NOOP TLV reported")
		}
	}
	if h.Local {
		if h.Transport != "" || h.Source.IsValid() || h.Dest.IsValid() || h.SourceAddr() != nil || h.DestAddr() != nil {
			t.Fatalf("Local header with addresses: %+v", h)
		}
		return
	}
	if h.SourceAddr() == nil || h.DestAddr() == nil {
		t.Fatalf("PROXY header without addresses: %+v", h)
	}
	_ = h.SourceAddr().String() + h.DestAddr().String() // must not panic
	switch h.Transport {
	case proxyproto.TransportTCP4, proxyproto.TransportTCP6, proxyproto.TransportUDP4, proxyproto.TransportUDP6:
		if !h.Source.IsValid() || !h.Dest.IsValid() || h.Source.Addr().Is4In6() || h.Dest.Addr().Is4In6() {
			t.Fatalf("IP header with bad addresses: %+v", h)
		}
		if h.Version == 1 && h.Transport[:3] != "tcp" {
			t.Fatalf("v1 header with transport %q", h.Transport)
		}
		if vstream.AddrPort(h.SourceAddr()) != h.Source {
			t.Fatalf("SourceAddr %v differs from Source %v", h.SourceAddr(), h.Source)
		}
	case proxyproto.TransportUnix, proxyproto.TransportUnixgram:
		if h.Version != 2 || h.Source.IsValid() {
			t.Fatalf("bad Unix header: %+v", h)
		}
	default:
		t.Fatalf("Transport = %q", h.Transport)
	}
}

// memConn is a net.Conn whose reads serve data, at most chunk bytes at a
// time, then io.EOF. Writes are discarded. It never blocks.
type memConn struct {
	data     []byte
	chunk    int
	deadline time.Time
}

func (m *memConn) Read(p []byte) (int, error) {
	if len(m.data) == 0 {
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), m.chunk)], m.data)
	m.data = m.data[n:]
	return n, nil
}

func (m *memConn) Write(p []byte) (int, error)        { return len(p), nil }
func (m *memConn) Close() error                       { return nil }
func (m *memConn) LocalAddr() net.Addr                { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1} }
func (m *memConn) RemoteAddr() net.Addr               { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 2} }
func (m *memConn) SetDeadline(t time.Time) error      { m.deadline = t; return nil }
func (m *memConn) SetReadDeadline(t time.Time) error  { m.deadline = t; return nil }
func (m *memConn) SetWriteDeadline(t time.Time) error { return nil }

// TestProxyHeaderSeeds pins what each seed exercises, so a seed that stops
// reaching the path it was written for is noticed.
func TestProxyHeaderSeeds(t *testing.T) {
	want := map[string]string{
		"v1-tcp4": "ok", "v1-tcp6": "ok", "v1-tcp6-mapped": "ok", "v1-tcp6-longest": "ok",
		"v1-unknown": "ok", "v1-unknown-spec": "ok", "v1-truncated": "truncated", "v1-no-cr": "invalid",
		"v1-bad-port": "invalid", "v1-too-long": "invalid",
		"v2-tcp4": "ok", "v2-tcp6": "ok", "v2-tcp4-tlvs": "ok", "v2-tcp6-tlvs": "ok", "v2-udp4": "ok",
		"v2-unix": "ok", "v2-local": "ok", "v2-local-tcp4": "ok", "v2-local-short": "ok",
		"v2-truncated": "truncated", "v2-truncated-tlv": "invalid", "v2-bad-family": "invalid",
		"v2-proxy-unspec": "invalid", "v2-bad-command": "invalid", "v2-length-too-big": "invalid",
		"http": "no header", "empty": "eof",
	}
	seeds := proxyHeaderSeeds()
	if len(seeds) != len(want) {
		t.Fatalf("%d seeds, %d expectations", len(seeds), len(want))
	}
	for name, seed := range seeds {
		if got := acceptMem(t, seed, len(seed)+1); got.class != want[name] {
			t.Errorf("seed %s: %s (%v), want %s", name, got.class, got.err, want[name])
		}
	}
}

// TestProxyHeaderCorpus checks that every seed is also a corpus file with the
// same bytes, so `go test ./fuzz` and the fuzzer start from the same inputs.
// SLUICE_UPDATE_CORPUS=1 writes the files instead.
func TestProxyHeaderCorpus(t *testing.T) { checkCorpus(t, "FuzzProxyHeader", proxyHeaderSeeds()) }
