package shell

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluice-proxy/sluice/connfilter"
	"github.com/sluice-proxy/sluice/internal/promtest"
	"github.com/sluice-proxy/sluice/internal/testcert"
	"github.com/sluice-proxy/sluice/transport"
	"github.com/sluice-proxy/sluice/vstream"
)

// tlsSetup is a CA with certificates for a.example and *.b.example, and a
// client certificate.
type tlsSetup struct {
	ca, otherCA  *testcert.CA
	a, b, client *testcert.Pair
	stranger     *testcert.Pair // a client certificate from another CA
	expired      *testcert.Pair
}

func newTLSSetup(t *testing.T) *tlsSetup {
	t.Helper()
	dir := t.TempDir()
	ts := &tlsSetup{}
	var err error
	must := func(e error) {
		if e != nil {
			t.Fatal(e)
		}
	}
	ts.ca, err = testcert.NewCA(dir, "test-ca")
	must(err)
	ts.otherCA, err = testcert.NewCA(dir, "other-ca")
	must(err)
	ts.a, err = ts.ca.Server("a.example")
	must(err)
	ts.b, err = ts.ca.Server("*.b.example")
	must(err)
	ts.client, err = ts.ca.Client("alice", "Acme", time.Now().Add(time.Hour))
	must(err)
	ts.stranger, err = ts.otherCA.Client("mallory", "Evil", time.Now().Add(time.Hour))
	must(err)
	ts.expired, err = ts.ca.Client("bob", "Acme", time.Now().Add(-time.Minute))
	must(err)
	return ts
}

// served is what the Handler saw of one connection.
type served struct {
	d    *vstream.Digest
	data string
}

// startTLS runs a Shell terminating TLS with cfg's certificates; its
// Handler echoes one line and reports the Digest.
func startTLS(t *testing.T, ts *tlsSetup, st transport.ServerTLS, mod func(*Config, *TLS)) (string, chan served, chan string, *prometheus.Registry) {
	t.Helper()
	if len(st.Certificates) == 0 {
		st.Certificates = []transport.CertFiles{{Cert: ts.a.CertFile, Key: ts.a.KeyFile}, {Cert: ts.b.CertFile, Key: ts.b.KeyFile}}
	}
	srv, err := transport.NewTLSServer(st)
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	m, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan served, 4)
	rejected := make(chan string, 4)
	tl := &TLS{Server: srv, Metrics: m, HandshakeTimeout: 2 * time.Second}
	cfg := Config{
		Name: "tls",
		TLS:  tl,
		Handler: func(ctx context.Context, c net.Conn, d *vstream.Digest) {
			defer c.Close()
			buf := make([]byte, 64)
			n, _ := c.Read(buf)
			c.Write(buf[:n])
			got <- served{d, string(buf[:n])}
		},
		OnReject: func(reason string) { rejected <- reason },
	}
	if mod != nil {
		mod(&cfg, tl)
	}
	_, addr := start(t, cfg)
	return addr, got, rejected, reg
}

// dialTLS handshakes with the shell and echoes "ping".
func dialTLS(addr string, cfg *tls.Config) (*tls.ConnectionState, error) {
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: guard}, "tcp", addr, cfg)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(guard))
	if _, err := c.Write([]byte("ping")); err != nil {
		return nil, err
	}
	buf := make([]byte, 4)
	if _, err := io.ReadFull(c, buf); err != nil {
		return nil, err
	}
	cs := c.ConnectionState()
	return &cs, nil
}

// The certificate follows the SNI (exact, then wildcard, else the first);
// the Digest carries the handshake, the JA4 and the hook's value.
func TestTLSTerminationBySNI(t *testing.T) {
	ts := newTLSSetup(t)
	type identity struct{ sni string }
	addr, got, _, reg := startTLS(t, ts, transport.ServerTLS{ALPN: []string{"h2", "http/1.1"}}, func(c *Config, tl *TLS) {
		tl.OnHandshake = func(_ context.Context, cs *tls.ConnectionState, d *vstream.Digest) (any, error) {
			return identity{cs.ServerName}, nil
		}
	})
	for _, tc := range []struct{ sni, wantCN string }{
		{"a.example", "a.example"},
		{"x.b.example", "*.b.example"},
		{"unknown.example", "a.example"}, // the default
		{"", "a.example"},
	} {
		cs, err := dialTLS(addr, &tls.Config{ServerName: tc.sni, RootCAs: ts.ca.Pool, InsecureSkipVerify: tc.sni == "" || tc.sni == "unknown.example", NextProtos: []string{"http/1.1"}})
		if err != nil {
			t.Fatalf("sni %q: %v", tc.sni, err)
		}
		if cn := cs.PeerCertificates[0].Subject.CommonName; cn != tc.wantCN {
			t.Errorf("sni %q: served %q, want %q", tc.sni, cn, tc.wantCN)
		}
		s := <-got
		if s.data != "ping" || s.d.TLS == nil || s.d.TLSInfo == nil {
			t.Fatalf("sni %q: handler saw %q, digest %+v", tc.sni, s.data, s.d)
		}
		ti := s.d.TLSInfo
		if ti.Version != "TLS 1.3" || ti.ServerName != tc.sni || ti.ALPN != "http/1.1" || len(ti.JA4) != 36 || ti.Resumed {
			t.Errorf("sni %q: TLSInfo %+v", tc.sni, ti)
		}
		if id, ok := vstream.Extension[identity](s.d); !ok || id.sni != tc.sni {
			t.Errorf("sni %q: extension %v %v", tc.sni, id, ok)
		}
	}
	if v := promtest.Sum(t, reg, "sluice_tls_handshakes_total", "result", "ok", "version", "TLS 1.3"); v != 4 {
		t.Errorf("handshakes ok = %v, want 4", v)
	}
}

// strict_sni: an unknown name gets unrecognized_name, counted.
func TestTLSStrictSNI(t *testing.T) {
	ts := newTLSSetup(t)
	addr, _, rejected, _ := startTLS(t, ts, transport.ServerTLS{StrictSNI: true}, nil)
	_, err := dialTLS(addr, &tls.Config{ServerName: "unknown.example", InsecureSkipVerify: true})
	if err == nil || !strings.Contains(err.Error(), "unrecognized name") {
		t.Fatalf("unknown SNI with strict_sni: %v, want the unrecognized_name alert", err)
	}
	if r := <-rejected; r != "tls_unknown_sni" {
		t.Fatalf("counted as %q", r)
	}
	if _, err := dialTLS(addr, &tls.Config{ServerName: "a.example", RootCAs: ts.ca.Pool}); err != nil {
		t.Fatalf("known name: %v", err)
	}
}

// mTLS: a client certificate is required and verified; the peer's leaf
// lands in the Digest; missing, foreign and expired ones are refused and
// counted.
func TestTLSClientAuth(t *testing.T) {
	ts := newTLSSetup(t)
	addr, got, rejected, _ := startTLS(t, ts, transport.ServerTLS{ClientAuth: tls.RequireAndVerifyClientCert, ClientCA: ts.ca.CertFile}, nil)
	base := func(cert *testcert.Pair) *tls.Config {
		c := &tls.Config{ServerName: "a.example", RootCAs: ts.ca.Pool}
		if cert != nil {
			c.Certificates = []tls.Certificate{cert.TLS}
		}
		return c
	}
	if _, err := dialTLS(addr, base(ts.client)); err != nil {
		t.Fatalf("valid client certificate: %v", err)
	}
	ti := (<-got).d.TLSInfo
	if !strings.Contains(ti.PeerSubject, "CN=alice") || ti.PeerOrganization != "Acme" || ti.PeerSerial == "" || len(ti.PeerSHA256) != 64 {
		t.Fatalf("peer in the digest: %+v", ti)
	}
	for name, cert := range map[string]*testcert.Pair{"missing": nil, "other CA": ts.stranger, "expired": ts.expired} {
		if _, err := dialTLS(addr, base(cert)); err == nil {
			t.Errorf("%s client certificate: accepted", name)
			continue
		}
		if r := <-rejected; r != "tls_client_cert" {
			t.Errorf("%s client certificate counted as %q", name, r)
		}
	}
}

// The hello stage: a filter drops an unknown name before any key exchange
// (the client gets no ServerHello: the connection just closes).
func TestTLSHelloFilter(t *testing.T) {
	ts := newTLSSetup(t)
	seen := make(chan *connfilter.Hello, 4)
	addr, _, rejected, _ := startTLS(t, ts, transport.ServerTLS{}, func(c *Config, _ *TLS) {
		c.Filter = connfilter.HelloFunc("sni", func(h *connfilter.Hello) string {
			seen <- h
			if h.ServerName != "a.example" {
				return "sni_unknown"
			}
			return ""
		})
	})
	if _, err := dialTLS(addr, &tls.Config{ServerName: "a.example", RootCAs: ts.ca.Pool, NextProtos: []string{"h2"}}); err != nil {
		t.Fatal(err)
	}
	if h := <-seen; h.ServerName != "a.example" || len(h.ALPN) != 1 || h.ALPN[0] != "h2" || len(h.JA4) != 36 {
		t.Fatalf("filter saw %+v", h)
	}
	_, err := dialTLS(addr, &tls.Config{ServerName: "evil.example", InsecureSkipVerify: true})
	if err == nil {
		t.Fatal("filtered name got through")
	}
	<-seen
	if r := <-rejected; r != "sni_unknown" {
		t.Fatalf("counted as %q", r)
	}
}

// Bad input closes only its own connection, with a counted reason: a
// non-TLS first byte, a stalled hello, a truncated hello, a hook's error.
func TestTLSBadInput(t *testing.T) {
	ts := newTLSSetup(t)
	hookFails := make(chan bool, 1)
	addr, _, rejected, _ := startTLS(t, ts, transport.ServerTLS{}, func(c *Config, tl *TLS) {
		tl.HandshakeTimeout = 300 * time.Millisecond
		tl.OnHandshake = func(context.Context, *tls.ConnectionState, *vstream.Digest) (any, error) {
			if <-hookFails {
				return nil, errors.New("no such tenant")
			}
			return nil, nil
		}
	})
	raw := func(b []byte) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if b == nil {
			c.(*net.TCPConn).CloseWrite() // closed before any byte
		}
		c.Write(b)
		c.SetReadDeadline(time.Now().Add(guard))
		io.Copy(io.Discard, c) // until the shell closes it
	}
	for _, tc := range []struct {
		name string
		in   []byte
		want string
	}{
		{"http", []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), "tls_not_tls"},
		{"stalled", []byte{22, 3, 1, 0, 200, 1}, "tls_timeout"},
		{"garbage hello", []byte{22, 3, 1, 0, 4, 1, 0, 0, 0}, "tls_hello_invalid"},
		{"closed", nil, "tls_closed"},
	} {
		raw(tc.in)
		if r := <-rejected; r != tc.want {
			t.Errorf("%s: counted as %q, want %q", tc.name, r, tc.want)
		}
	}
	hookFails <- true
	if _, err := dialTLS(addr, &tls.Config{ServerName: "a.example", RootCAs: ts.ca.Pool}); err == nil {
		t.Error("a connection the hook refused was served")
	}
	if r := <-rejected; r != "tls_hook" {
		t.Errorf("hook error counted as %q", r)
	}
	hookFails <- false
	if _, err := dialTLS(addr, &tls.Config{ServerName: "a.example", RootCAs: ts.ca.Pool}); err != nil {
		t.Errorf("after the bad ones, a good client: %v", err)
	}
}

// Reload re-reads the certificates; a bad new file keeps the old ones.
func TestTLSReload(t *testing.T) {
	ts := newTLSSetup(t)
	dir := t.TempDir()
	cert, key := dir+"/c.pem", dir+"/c.key"
	copyFile(t, ts.a.CertFile, cert)
	copyFile(t, ts.a.KeyFile, key)
	srv, err := transport.NewTLSServer(transport.ServerTLS{Certificates: []transport.CertFiles{{Cert: cert, Key: key}}})
	if err != nil {
		t.Fatal(err)
	}
	if srv.Changed() {
		t.Fatal("Changed right after loading")
	}
	copyFile(t, ts.b.CertFile, cert)
	copyFile(t, ts.b.KeyFile, key)
	if err := srv.Reload(); err != nil {
		t.Fatal(err)
	}
	if !srv.Knows("x.b.example") || srv.Knows("a.example") {
		t.Fatal("the reloaded certificate is not the one served")
	}
	writeFile(t, cert, "not a certificate")
	if err := srv.Reload(); err == nil {
		t.Fatal("a bad file was taken")
	}
	if !srv.Knows("x.b.example") {
		t.Fatal("a failed reload dropped the certificate in use")
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := readFile(from)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, to, string(b))
}

func readFile(path string) ([]byte, error) { return os.ReadFile(path) }

func writeFile(t *testing.T, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}

// A second connection with the session ticket of the first resumes: the
// Digest says so and the resumption is counted.
func TestTLSResumption(t *testing.T) {
	ts := newTLSSetup(t)
	addr, got, _, reg := startTLS(t, ts, transport.ServerTLS{}, nil)
	cfg := &tls.Config{ServerName: "a.example", RootCAs: ts.ca.Pool, ClientSessionCache: tls.NewLRUClientSessionCache(4)}
	for i := range 2 {
		cs, err := dialTLS(addr, cfg)
		if err != nil {
			t.Fatal(err)
		}
		s := <-got
		if want := i == 1; cs.DidResume != want || s.d.TLSInfo.Resumed != want {
			t.Fatalf("connection %d: client resumed %v, digest %v; want %v", i, cs.DidResume, s.d.TLSInfo.Resumed, want)
		}
	}
	if v := promtest.Sum(t, reg, "sluice_tls_resumptions_total"); v != 1 {
		t.Errorf("resumptions = %v, want 1", v)
	}
}
