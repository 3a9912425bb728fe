package main

import (
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	xh2 "golang.org/x/net/http2"

	"github.com/sluice-proxy/sluice/internal/testcert"
)

// h2cOrigin is an origin speaking HTTP/2 with prior knowledge (and
// HTTP/1.1) that answers with the protocol it saw.
func h2cOrigin(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "proto=%s", r.Proto)
	}), ReadHeaderTimeout: hangGuard, Protocols: new(http.Protocols)}
	srv.Protocols.SetUnencryptedHTTP2(true)
	srv.Protocols.SetHTTP1(true)
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// TestH2UpstreamThroughTheBinary: an http service whose upstream says
// protocol: h2c (with max_streams and ping_interval) reaches the origin
// over HTTP/2.
func TestH2UpstreamThroughTheBinary(t *testing.T) {
	o := h2cOrigin(t)
	app := runYAML(t, fmt.Sprintf(`http:
  - name: web
    listen: ["127.0.0.1:0"]
    upstreams: [{addr: %q, protocol: h2c, max_streams: 10, ping_interval: 5s}]
`, o), io.Discard)
	c := &http.Client{Transport: &http.Transport{}}
	for range 3 {
		if status, body := get(t, c, app.addrOf("http", 0), "x", "/"); status != 200 || body != "proto=HTTP/2.0" {
			t.Fatalf("through an h2c upstream: %d %q", status, body)
		}
	}
}

// TestH2UpstreamConfigErrors: the HTTP upstream keys name key and line.
func TestH2UpstreamConfigErrors(t *testing.T) {
	head := "http:\n  - name: a\n    listen: [\"127.0.0.1:1\"]\n"
	for _, tc := range []struct {
		name, yaml, want string
	}{
		{"unknown", head + "    upstreams: [{addr: \"127.0.0.1:2\", protocol: h4}]\n", `x.yaml:4: http[0].upstreams[0].protocol: unknown protocol "h4"`},
		{"h3 without tls", head + "    upstreams: [{addr: \"127.0.0.1:2\", protocol: h3}]\n", "http[0].upstreams[0].protocol: h3 is HTTP/3 over QUIC"},
		{"h2 without tls", head + "    upstreams: [{addr: \"127.0.0.1:2\", protocol: h2}]\n", "http[0].upstreams[0].protocol: h2 is HTTP/2 over TLS"},
		{"max_streams on http1", head + "    upstreams: [{addr: \"127.0.0.1:2\", max_streams: 5}]\n", "http[0].upstreams[0].max_streams: is for HTTP/2 upstreams"},
		{"max_streams 0", head + "    upstreams: [{addr: \"127.0.0.1:2\", protocol: h2c, max_streams: 0}]\n", "http[0].upstreams[0].max_streams: must be at least 1"},
		{"ping 1ms", head + "    upstreams: [{addr: \"127.0.0.1:2\", protocol: h2c, ping_interval: 1ms}]\n", "http[0].upstreams[0].ping_interval: must be at least 1s"},
		{"protocol on tcp", "tcp:\n  - name: a\n    listen: [\"127.0.0.1:1\"]\n    upstreams: [{addr: \"127.0.0.1:2\", protocol: h2c}]\n", "tcp[0].upstreams[0].protocol: is for upstreams of http services"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseConfig("x.yaml", []byte(tc.yaml))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

// TestH2AndAutoUpstreamsThroughTheBinary: protocol: h2 and protocol: auto
// reach an HTTPS origin that offers h2 over HTTP/2.
func TestH2AndAutoUpstreamsThroughTheBinary(t *testing.T) {
	ca, err := testcert.NewCA(t.TempDir(), "ca")
	if err != nil {
		t.Fatal(err)
	}
	pair, err := ca.Server("origin.example")
	if err != nil {
		t.Fatal(err)
	}
	o := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "proto=%s", r.Proto)
	}))
	o.EnableHTTP2 = true
	o.TLS = &tls.Config{Certificates: []tls.Certificate{pair.TLS}}
	o.StartTLS()
	defer o.Close()
	app := runYAML(t, fmt.Sprintf(`http:
  - name: h2
    listen: ["127.0.0.1:0"]
    upstreams: [{addr: %[1]q, protocol: h2, tls: {sni: origin.example, ca: %[2]q}}]
  - name: auto
    listen: ["127.0.0.1:0"]
    upstreams: [{addr: %[1]q, protocol: auto, tls: {sni: origin.example, ca: %[2]q}}]
`, o.Listener.Addr().String(), ca.CertFile), io.Discard)
	c := &http.Client{Transport: &http.Transport{}}
	for i := range 2 {
		if status, body := get(t, c, app.addrOf("http", i), "x", "/"); status != 200 || body != "proto=HTTP/2.0" {
			t.Fatalf("service %d: %d %q", i, status, body)
		}
	}
}

// TestH2COnlyThroughTheBinary: with h2c_only, a cleartext connection that
// does not start with the HTTP/2 preface is closed (RFC 9113 3.4), not
// answered as HTTP/1.1; HTTP/2 with prior knowledge is served.
func TestH2COnlyThroughTheBinary(t *testing.T) {
	app := runYAML(t, fmt.Sprintf("http:\n  - name: web\n    listen: [\"127.0.0.1:0\"]\n    h2c_only: true\n    upstreams: [{addr: %q}]\n", h2cOrigin(t)), io.Discard)
	c := rawRequest(t, app.addrOf("http", 0), "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	if got, _ := io.ReadAll(c); len(got) != 0 {
		t.Fatalf("HTTP/1.1 on an h2c_only listener was answered %q; want the connection closed", got)
	}
	conn, err := net.Dial("tcp", app.addrOf("http", 0))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	cc, err := (&xh2.Transport{AllowHTTP: true}).NewClientConn(conn)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("GET", "http://x/", nil)
	resp, err := cc.RoundTrip(req)
	if err != nil || resp.StatusCode != 200 || resp.ProtoMajor != 2 {
		t.Fatalf("h2c on an h2c_only listener: %v %v", resp, err)
	}
	resp.Body.Close()
}
