package main

import (
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/sluice-proxy/sluice/internal/promtest"
	"github.com/sluice-proxy/sluice/internal/testcert"
	"github.com/sluice-proxy/sluice/internal/testserve"
)

// TestTLSThroughTheBinary: an http: service with tls: serves HTTPS with
// the certificate its SNI names and logs the handshake (version, JA4); a
// tcp: service with client_auth: require relays only for clients with a
// certificate from the CA; the handshakes are counted; a certificate file
// replaced on disk is served from then on without a restart.
func TestTLSThroughTheBinary(t *testing.T) {
	dir := t.TempDir()
	ca, err := testcert.NewCA(dir, "ca")
	if err != nil {
		t.Fatal(err)
	}
	pair := func(names ...string) *testcert.Pair {
		p, err := ca.Server(names...)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	a, b, c := pair("a.example"), pair("b.example"), pair("c.example")
	client, err := ca.Client("alice", "Acme", time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	// a's files are copied: the test replaces them later.
	aCert, aKey := dir+"/served.pem", dir+"/served.key"
	copyTo(t, a.CertFile, aCert)
	copyTo(t, a.KeyFile, aKey)
	o := origin(t, "O")
	up := echoServer(t)
	logs := newLineCounter("TLS files reloaded")
	app := runYAML(t, fmt.Sprintf(`log: {level: info}
http:
  - name: web
    listen: ["127.0.0.1:0"]
    upstreams: [{addr: %q}]
    tls:
      certificates: [{cert: %q, key: %q}, {cert: %q, key: %q}]
tcp:
  - name: fwd
    listen: ["127.0.0.1:0"]
    upstreams: [{addr: %q}]
    tls:
      certificates: [{cert: %q, key: %q}]
      client_auth: {mode: require, ca: %q}
      min_version: "1.3"
`, o.Listener.Addr(), aCert, aKey, b.CertFile, b.KeyFile, up, a.CertFile, a.KeyFile, ca.CertFile), logs)
	web, fwd := app.addrOf("http", 0), app.addrOf("tcp", 0)

	get := func(sni string) (string, string) {
		t.Helper()
		tr := &http.Transport{TLSClientConfig: &tls.Config{ServerName: sni, RootCAs: ca.Pool}}
		defer tr.CloseIdleConnections()
		resp, err := (&http.Client{Transport: tr, Timeout: hangGuard}).Get("https://" + web + "/x")
		if err != nil {
			t.Fatalf("GET with SNI %s: %v", sni, err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.TLS.PeerCertificates[0].Subject.CommonName, string(body)
	}
	if cn, body := get("b.example"); cn != "b.example" || !strings.HasPrefix(body, "O /x") {
		t.Fatalf("SNI b.example: certificate %q, body %q", cn, body)
	}
	if cn, _ := get("a.example"); cn != "a.example" {
		t.Fatalf("SNI a.example: certificate %q", cn)
	}
	if !strings.Contains(logs.String(), "tls=\"TLS 1.3\" ja4=t13d") {
		t.Errorf("access log lacks the handshake:\n%s", logs)
	}

	dialFwd := func(cert *testcert.Pair) error {
		cfg := &tls.Config{ServerName: "a.example", RootCAs: ca.Pool}
		if cert != nil {
			cfg.Certificates = []tls.Certificate{cert.TLS}
		}
		conn, err := tls.DialWithDialer(&net.Dialer{Timeout: hangGuard}, "tcp", fwd, cfg)
		if err != nil {
			return err
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(hangGuard))
		if _, err := conn.Write([]byte("over tls")); err != nil {
			return err
		}
		buf := make([]byte, 8)
		if _, err := io.ReadFull(conn, buf); err != nil {
			return err
		}
		if string(buf) != "over tls" {
			return fmt.Errorf("echo %q", buf)
		}
		return nil
	}
	if err := dialFwd(client); err != nil {
		t.Fatalf("tcp with a client certificate: %v", err)
	}
	if err := dialFwd(nil); err == nil {
		t.Fatal("tcp without a client certificate was relayed")
	}

	// Replace the served certificate on disk: c.example from now on.
	copyTo(t, c.CertFile, aCert)
	copyTo(t, c.KeyFile, aKey)
	logs.await(t, 1)
	if cn, _ := get("c.example"); cn != "c.example" {
		t.Fatalf("after the files changed, SNI c.example got %q", cn)
	}

	if v := promtest.Sum(t, app.reg, "sluice_tls_handshakes_total", "service", "web", "result", "ok"); v < 3 {
		t.Errorf("web handshakes ok = %v, want at least 3", v)
	}
	if v := promtest.Sum(t, app.reg, "sluice_tls_handshakes_total", "service", "fwd", "result", "tls_client_cert"); v != 1 {
		t.Errorf("fwd handshakes refused for the client certificate = %v, want 1", v)
	}
	if v := promtest.Sum(t, app.reg, "sluice_tls_certificate_expiry_seconds", "service", "web", "certificate", "b.example"); v < float64(time.Now().Unix()) {
		t.Errorf("certificate expiry of b.example = %v", v)
	}
}

func copyTo(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	// Written whole under a new name, then renamed: the watcher never
	// sees half a file.
	if err := os.WriteFile(to+".tmp", b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(to+".tmp", to); err != nil {
		t.Fatal(err)
	}
}

// TestForwardTLSFlags: `sluice forward -tls-cert C -tls-key K` terminates
// TLS in front of a cleartext upstream.
func TestForwardTLSFlags(t *testing.T) {
	dir := t.TempDir()
	ca, err := testcert.NewCA(dir, "ca")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := ca.Server("localhost")
	if err != nil {
		t.Fatal(err)
	}
	up := echoServer(t)
	p := startForwardArgs(t, "-tls-cert", srv.CertFile, "-tls-key", srv.KeyFile, "127.0.0.1:0", up)
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: hangGuard}, "tcp", p.addr, &tls.Config{ServerName: "localhost", RootCAs: ca.Pool})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	roundTrip(t, conn, "through forward -tls-cert")
	var out, errb strings.Builder
	if code := runMain([]string{"forward", "-tls-cert", srv.CertFile, "127.0.0.1:0", up}, &out, &errb); code != 2 {
		t.Errorf("-tls-cert without -tls-key: exit %d, want 2 (usage)", code)
	}
}

// tlsNamer is a TLS server on loopback that answers every connection with
// its name, for certificates of names.
func tlsNamer(t *testing.T, ca *testcert.CA, name string, names ...string) string {
	t.Helper()
	pair, err := ca.Server(names...)
	if err != nil {
		t.Fatal(err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{pair.TLS}, NextProtos: []string{"h2", "http/1.1"}}
	return testserve.TLS(t, cfg, func(c *tls.Conn) { c.Write([]byte(name)) })
}

// TestTCPRoutesBySNIThroughTheBinary: a tcp: service with routes: passes
// TLS through untouched to the upstream its ClientHello's SNI or ALPN
// names (the client's handshake is with that upstream, end to end), the
// service's upstreams take the rest, and a non-TLS client is refused.
func TestTCPRoutesBySNIThroughTheBinary(t *testing.T) {
	ca, err := testcert.NewCA(t.TempDir(), "ca")
	if err != nil {
		t.Fatal(err)
	}
	a := tlsNamer(t, ca, "A", "a.example")
	b := tlsNamer(t, ca, "B", "x.b.example", "y.b.example")
	h2 := tlsNamer(t, ca, "H2", "h2.example")
	def := tlsNamer(t, ca, "DEF", "other.example")
	app := runYAML(t, fmt.Sprintf(`log: {level: error}
tcp:
  - name: sni
    listen: ["127.0.0.1:0"]
    upstreams: [{addr: %q}]
    routes:
      - {name: a, sni: [a.example], upstreams: [{addr: %q}]}
      - {name: b, sni: ["*.b.example"], upstreams: [{addr: %q}]}
      - {name: h2, alpn: [h2], upstreams: [{addr: %q}]}
`, def, a, b, h2), io.Discard)
	addr := app.addrOf("tcp", 0)
	for _, tc := range []struct {
		sni, alpn, want string
	}{
		{"a.example", "http/1.1", "A"},
		{"y.b.example", "http/1.1", "B"},
		{"h2.example", "h2", "H2"},
		{"other.example", "http/1.1", "DEF"},
	} {
		conn, err := tls.DialWithDialer(&net.Dialer{Timeout: hangGuard}, "tcp", addr, &tls.Config{ServerName: tc.sni, RootCAs: ca.Pool, NextProtos: []string{tc.alpn}})
		if err != nil {
			t.Fatalf("sni %s: %v", tc.sni, err)
		}
		conn.SetReadDeadline(time.Now().Add(hangGuard))
		got, _ := io.ReadAll(conn)
		conn.Close()
		if string(got) != tc.want {
			t.Errorf("sni %s alpn %s: reached %q, want %q", tc.sni, tc.alpn, got, tc.want)
		}
	}
	c := rawRequest(t, addr, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	if b, _ := io.ReadAll(c); len(b) != 0 {
		t.Errorf("a non-TLS client got %q", b)
	}
}

// TestUpstreamTLSThroughTheBinary: `sluice forward -upstream-tls-ca CA
// -upstream-sni NAME` speaks TLS to a TLS upstream for a cleartext client;
// an http: service's upstream with tls: is reached over HTTPS; a wrong
// name is refused (502, upstream_tls).
func TestUpstreamTLSThroughTheBinary(t *testing.T) {
	ca, err := testcert.NewCA(t.TempDir(), "ca")
	if err != nil {
		t.Fatal(err)
	}
	named := tlsNamer(t, ca, "UPSTREAM", "up.example")
	p := startForwardArgs(t, "-upstream-tls-ca", ca.CertFile, "-upstream-sni", "up.example", "127.0.0.1:0", named)
	c := rawRequest(t, p.addr, "")
	if got, _ := io.ReadAll(c); string(got) != "UPSTREAM" {
		t.Fatalf("forward with upstream TLS: got %q", got)
	}

	pair, err := ca.Server("origin.example")
	if err != nil {
		t.Fatal(err)
	}
	o := httptestTLS(t, pair)
	logs := newLineCounter("kind=upstream_tls")
	app := runYAML(t, fmt.Sprintf(`log: {level: info}
http:
  - name: good
    listen: ["127.0.0.1:0"]
    upstreams: [{addr: %[1]q, tls: {sni: origin.example, ca: %[2]q}}]
  - name: misnamed
    listen: ["127.0.0.1:0"]
    upstreams: [{addr: %[1]q, tls: {sni: wrong.example, ca: %[2]q}}]
    max_retries: 0
`, o, ca.CertFile), logs)
	c1 := &http.Client{Transport: &http.Transport{}}
	if status, body := get(t, c1, app.addrOf("http", 0), "x", "/"); status != 200 || body != "tls=true" {
		t.Fatalf("through an upstream with tls: %d %q", status, body)
	}
	if status, _ := get(t, c1, app.addrOf("http", 1), "x", "/"); status != http.StatusBadGateway {
		t.Fatalf("misnamed upstream: %d, want 502", status)
	}
	logs.await(t, 1) // logged, so counted (the 502 reaches the client first)
	if v := promtest.Sum(t, app.reg, "sluice_http_errors_total", "service", "misnamed", "kind", "upstream_tls"); v != 1 {
		t.Errorf("errors{upstream_tls} = %v, want 1", v)
	}
}

// httptestTLS is an HTTPS origin with pair's certificate, answering
// "tls=true" when the request came over TLS.
func httptestTLS(t *testing.T, pair *testcert.Pair) string {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{pair.TLS}})
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "tls=%v", r.TLS != nil)
	}), ReadHeaderTimeout: hangGuard}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}
