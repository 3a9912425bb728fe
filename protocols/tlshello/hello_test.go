package tlshello

import (
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"testing"
	"testing/iotest"

	"github.com/sluice-proxy/sluice/internal/testcert"
)

// goHello returns the bytes Go's TLS client sends first with cfg: its
// ClientHello records.
func goHello(t testing.TB, cfg *tls.Config) []byte {
	t.Helper()
	b, err := testcert.ClientHello(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestReadGoHello(t *testing.T) {
	raw := goHello(t, &tls.Config{ServerName: "API.Example.com", NextProtos: []string{"h2", "http/1.1"}})
	trailer := []byte("more bytes after the hello")
	h, got, err := Read(io.MultiReader(bytes.NewReader(raw), bytes.NewReader(trailer)), 0)
	if err != nil {
		t.Fatal(err)
	}
	if h.ServerName != "api.example.com" {
		t.Errorf("ServerName %q", h.ServerName)
	}
	if len(h.ALPN) != 2 || h.ALPN[0] != "h2" || h.ALPN[1] != "http/1.1" {
		t.Errorf("ALPN %q", h.ALPN)
	}
	if h.MaxVersion() != tls.VersionTLS13 || h.Version != tls.VersionTLS12 {
		t.Errorf("versions: legacy %x, max %x", h.Version, h.MaxVersion())
	}
	if len(h.CipherSuites) == 0 || len(h.SignatureAlgorithms) == 0 || len(h.SupportedGroups) == 0 {
		t.Errorf("lists missing: %+v", h)
	}
	// Everything read is handed back, to be replayed.
	if !bytes.HasPrefix(got, raw) {
		t.Fatalf("Read returned %d bytes that do not start with the hello's %d", len(got), len(raw))
	}
	if ja4 := h.JA4(); len(ja4) != 36 || ja4[:4] != "t13d" || ja4[8:10] != "h2" {
		t.Errorf("JA4 %q", ja4)
	}
}

// A hello split over several records, and delivered a byte at a time, is
// reassembled.
func TestReadSplitRecords(t *testing.T) {
	raw := goHello(t, &tls.Config{ServerName: "split.example"})
	msg := raw[5:] // one record: the handshake message
	var split []byte
	for len(msg) > 0 {
		n := min(len(msg), 50)
		split = append(split, 22, 3, 1, byte(n>>8), byte(n))
		split = append(split, msg[:n]...)
		msg = msg[n:]
	}
	h, got, err := Read(iotest.OneByteReader(bytes.NewReader(split)), 0)
	if err != nil {
		t.Fatal(err)
	}
	if h.ServerName != "split.example" || !bytes.Equal(got, split) {
		t.Fatalf("ServerName %q, %d of %d bytes", h.ServerName, len(got), len(split))
	}
}

func TestReadRefuses(t *testing.T) {
	raw := goHello(t, &tls.Config{ServerName: "x.example"})
	tooBig := append([]byte(nil), raw...)
	for _, tc := range []struct {
		name string
		in   []byte
		max  int
		want error
	}{
		{"http", []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), 0, ErrNotTLS},
		{"ssh", []byte("SSH-2.0-OpenSSH_9.2\r\n"), 0, ErrNotTLS},
		{"alert record", []byte{21, 3, 3, 0, 2, 2, 40}, 0, ErrNotTLS},
		{"truncated", raw[:len(raw)-10], 0, ErrMalformed},
		{"empty record", []byte{22, 3, 1, 0, 0}, 0, ErrMalformed},
		{"server hello", []byte{22, 3, 3, 0, 4, 2, 0, 0, 0}, 0, ErrNotTLS},
		{"over the limit", tooBig, 64, ErrTooLarge},
		{"huge announced", []byte{22, 3, 1, 0, 4, 1, 0xff, 0xff, 0xff}, 0, ErrTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, got, err := Read(bytes.NewReader(tc.in), tc.max)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Read = %v, want %v", err, tc.want)
			}
			if !bytes.Equal(got, tc.in[:len(got)]) {
				t.Fatal("bytes returned on error are not those read")
			}
		})
	}
}

func TestParseRefusesBadFields(t *testing.T) {
	raw := goHello(t, &tls.Config{ServerName: "x.example", NextProtos: []string{"h2"}})
	msg := raw[5:]
	if _, err := Parse(msg); err != nil {
		t.Fatalf("Parse of Go's hello: %v", err)
	}
	// Every cut of the message is refused, never a panic.
	for n := range len(msg) {
		if _, err := Parse(msg[:n]); !errors.Is(err, ErrMalformed) {
			t.Fatalf("Parse of the first %d bytes = %v, want ErrMalformed", n, err)
		}
	}
	// A duplicated extension is refused (RFC 8446 4.2: MUST NOT).
	dup := buildHello(t, []ext{{0x0017, nil}, {0x0017, nil}})
	if _, err := Parse(dup); !errors.Is(err, ErrMalformed) {
		t.Fatalf("duplicate extension: %v", err)
	}
	for _, name := range []string{"", "a..b", ".a", "a.", "bad name", "é.example"} {
		m := buildHello(t, []ext{{0x0000, sniData(name)}})
		if _, err := Parse(m); !errors.Is(err, ErrMalformed) {
			t.Errorf("SNI %q: %v, want ErrMalformed", name, err)
		}
	}
}

// ext is an extension for buildHello.
type ext struct {
	typ  uint16
	data []byte
}

// buildHello builds a ClientHello message with TLS_AES_128_GCM_SHA256 and
// exts.
func buildHello(t testing.TB, exts []ext) []byte {
	t.Helper()
	body := []byte{3, 3}
	body = append(body, make([]byte, 32)...) // random
	body = append(body, 0)                   // session id
	body = append(body, 0, 2, 0x13, 0x01)    // cipher suites
	body = append(body, 1, 0)                // compression
	var e []byte
	for _, x := range exts {
		e = append(e, byte(x.typ>>8), byte(x.typ), byte(len(x.data)>>8), byte(len(x.data)))
		e = append(e, x.data...)
	}
	body = append(body, byte(len(e)>>8), byte(len(e)))
	body = append(body, e...)
	return append([]byte{1, byte(len(body) >> 16), byte(len(body) >> 8), byte(len(body))}, body...)
}

func sniData(name string) []byte {
	entry := append([]byte{0, byte(len(name) >> 8), byte(len(name))}, name...)
	return append([]byte{byte(len(entry) >> 8), byte(len(entry))}, entry...)
}

// TestJA4Vector checks the fingerprint against a published one: Chrome's
// hello as recorded by a fingerprinting service (JA4
// t13d1516h2_8daaf6152771_d8a2da3f94cd, with its raw lists).
func TestJA4Vector(t *testing.T) {
	h := &Hello{
		Version:           0x0303,
		SupportedVersions: []uint16{0x3a3a, 0x0304, 0x0303},
		ServerName:        "tls.browserleaks.com",
		ALPN:              []string{"h2", "http/1.1"},
		CipherSuites: []uint16{0x2a2a, 0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9, 0xcca8,
			0xc013, 0xc014, 0x009c, 0x009d, 0x002f, 0x0035},
		Extensions: []uint16{0x0a0a, 0x002d, 0x0033, 0x0010, 0xfe0d, 0x0017, 0x44cd, 0x0000, 0x000b, 0x000a,
			0x002b, 0xff01, 0x0023, 0x0012, 0x0005, 0x000d, 0x001b, 0x1a1a},
		SignatureAlgorithms: []uint16{0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601},
	}
	if got, want := h.JA4(), "t13d1516h2_8daaf6152771_d8a2da3f94cd"; got != want {
		t.Fatalf("JA4 = %s, want %s", got, want)
	}
	h.ALPN, h.ServerName = nil, ""
	h.Extensions = []uint16{0x002b}
	h.SignatureAlgorithms = nil
	if got := h.JA4(); got[:11] != "t13i150100_" {
		t.Fatalf("JA4 without SNI and ALPN = %s", got)
	}
}

func TestALPNLabel(t *testing.T) {
	for in, want := range map[string]string{"h2": "h2", "http/1.1": "h1", "x": "xx", "\xab\xcd": "ad", "a/": "af"} {
		if got := alpnLabel([]string{in}); got != want {
			t.Errorf("alpnLabel(%q) = %q, want %q", in, got, want)
		}
	}
	if got := alpnLabel(nil); got != "00" {
		t.Errorf("no ALPN: %q", got)
	}
}
