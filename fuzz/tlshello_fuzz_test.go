package fuzz

import (
	"bytes"
	"crypto/tls"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/sluice-proxy/sluice/internal/testcert"
	"github.com/sluice-proxy/sluice/protocols/tlshello"
)

// helloFixtures are real ClientHellos captured from clients on this
// project's machine (testdata/hellos: curl 7.88 and OpenSSL 3.0, with
// their SNI and ALPN), by file name.
func helloFixtures(t testing.TB) map[string][]byte {
	t.Helper()
	files, err := filepath.Glob("testdata/hellos/*.bin")
	if err != nil || len(files) == 0 {
		t.Fatalf("no hello fixtures: %v", err)
	}
	out := map[string][]byte{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out[filepath.Base(f)] = b
	}
	return out
}

// goClientHello is the first flight of Go's TLS client for cfg.
func goClientHello(t testing.TB, cfg *tls.Config) []byte {
	t.Helper()
	b, err := testcert.ClientHello(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestClientHelloFixtures: the captured hellos parse, with the names and
// protocols their clients were given.
func TestClientHelloFixtures(t *testing.T) {
	want := map[string]struct {
		sni, alpn string
		version   uint16
	}{
		"curl-7.88-localhost.bin": {"localhost", "h2", tls.VersionTLS13},
		"openssl-3.0-alpn.bin":    {"openssl.example", "h2", tls.VersionTLS13},
		"openssl-3.0-tls12.bin":   {"old.example", "", tls.VersionTLS12},
	}
	for name, raw := range helloFixtures(t) {
		h, got, err := tlshello.Read(bytes.NewReader(raw), 0)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		w, ok := want[name]
		if !ok {
			t.Errorf("%s: a fixture without expectations", name)
			continue
		}
		alpn := ""
		if len(h.ALPN) > 0 {
			alpn = h.ALPN[0]
		}
		if h.ServerName != w.sni || alpn != w.alpn || h.MaxVersion() != w.version || !bytes.Equal(got, raw) {
			t.Errorf("%s: sni %q alpn %q version %x; want %+v", name, h.ServerName, alpn, h.MaxVersion(), w)
		}
		if ja4 := h.JA4(); len(ja4) != 36 {
			t.Errorf("%s: JA4 %q", name, ja4)
		}
	}
}

// FuzzClientHello: whatever the bytes, Read returns an error of its own
// kinds or a hello, never panics, only hands back bytes it read, and a
// hello it accepts has a well-formed fingerprint and a valid server name.
// Seeds: the captured hellos, Go's own, and their cuts.
func FuzzClientHello(f *testing.F) {
	for _, raw := range helloFixtures(f) {
		f.Add(raw)
		f.Add(raw[:len(raw)/2])
	}
	f.Add(goClientHello(f, &tls.Config{ServerName: "fuzz.example", NextProtos: []string{"h2", "http/1.1"}}))
	f.Add(goClientHello(f, &tls.Config{MaxVersion: tls.VersionTLS12, InsecureSkipVerify: true}))
	f.Add([]byte("GET / HTTP/1.1\r\n\r\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		h, got, err := tlshello.Read(bytes.NewReader(in), 4096)
		if !bytes.HasPrefix(in, got) {
			t.Fatalf("Read handed back %d bytes that were not read", len(got))
		}
		if err != nil {
			if !errors.Is(err, tlshello.ErrNotTLS) && !errors.Is(err, tlshello.ErrMalformed) && !errors.Is(err, tlshello.ErrTooLarge) {
				t.Fatalf("Read = %v: not one of the package's errors", err)
			}
			return
		}
		if ja4 := h.JA4(); len(ja4) != 36 || ja4[10] != '_' || ja4[23] != '_' {
			t.Fatalf("JA4 %q", ja4)
		}
		for _, c := range []byte(h.ServerName) {
			if c >= 0x80 || c == ' ' {
				t.Fatalf("server name %q", h.ServerName)
			}
		}
	})
}
