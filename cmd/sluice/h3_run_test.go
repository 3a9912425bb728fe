package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"

	"github.com/sluice-proxy/sluice/internal/testcert"
)

// TestHTTP3ThroughTheBinary: an https service with http3: serves HTTP/3 on
// its UDP address to the same upstreams, and its HTTPS responses advertise
// it with Alt-Svc.
func TestHTTP3ThroughTheBinary(t *testing.T) {
	ca, err := testcert.NewCA(t.TempDir(), "ca")
	if err != nil {
		t.Fatal(err)
	}
	pair, err := ca.Server("localhost", "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	app := runYAML(t, fmt.Sprintf(`http:
  - name: web
    listen: ["127.0.0.1:0"]
    upstreams: [{addr: %q}]
    tls: {certificates: [{cert: %q, key: %q}]}
    http3: {listen: ["127.0.0.1:0"]}
`, origin(t, "Q").Listener.Addr().String(), pair.CertFile, pair.KeyFile), io.Discard)
	var h3 net.Addr
	for _, s := range app.currentServices() {
		if hs, ok := s.(*httpService); ok && len(hs.h3) > 0 {
			h3 = hs.h3[0].LocalAddr()
		}
	}
	if h3 == nil {
		t.Fatal("no HTTP/3 socket")
	}
	tlsCfg := &tls.Config{RootCAs: ca.Pool, ServerName: "localhost"}
	tr := &http3.Transport{TLSClientConfig: tlsCfg}
	defer tr.Close()
	resp, err := (&http.Client{Transport: tr, Timeout: hangGuard}).Get("https://" + h3.String() + "/q")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.ProtoMajor != 3 || resp.StatusCode != 200 || !strings.HasPrefix(string(b), "Q /q") {
		t.Fatalf("over HTTP/3: %s %d %q", resp.Proto, resp.StatusCode, b)
	}
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: tlsCfg}, Timeout: hangGuard}
	resp, err = c.Get("https://" + app.addrOf("http", 0) + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	port := h3.(*net.UDPAddr).Port
	if want := fmt.Sprintf(`h3=":%d"; ma=86400`, port); resp.Header.Get("Alt-Svc") != want {
		t.Fatalf("Alt-Svc %q, want %q", resp.Header.Get("Alt-Svc"), want)
	}
	if _, err := parseConfig("x.yaml", []byte("http:\n  - name: a\n    listen: [\"127.0.0.1:1\"]\n    upstreams: [{addr: \"127.0.0.1:2\"}]\n    http3: {listen: [\"127.0.0.1:3\"]}\n")); err == nil || !strings.Contains(err.Error(), "http[0].http3: HTTP/3 needs the service's tls:") {
		t.Fatalf("http3 without tls: %v", err)
	}
}

// TestHTTP3UpstreamThroughTheBinary: an upstream with protocol: h3 is
// reached over QUIC.
func TestHTTP3UpstreamThroughTheBinary(t *testing.T) {
	ca, err := testcert.NewCA(t.TempDir(), "ca")
	if err != nil {
		t.Fatal(err)
	}
	pair, err := ca.Server("origin.example")
	if err != nil {
		t.Fatal(err)
	}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	srv := &http3.Server{TLSConfig: http3.ConfigureTLSConfig(&tls.Config{Certificates: []tls.Certificate{pair.TLS}}),
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprintf(w, "proto=%s", r.Proto) })}
	go srv.Serve(pc)
	defer srv.Close()
	app := runYAML(t, fmt.Sprintf(`http:
  - name: web
    listen: ["127.0.0.1:0"]
    upstreams: [{addr: %q, protocol: h3, tls: {sni: origin.example, ca: %q}}]
`, pc.LocalAddr().String(), ca.CertFile), io.Discard)
	if status, body := get(t, &http.Client{Transport: &http.Transport{}}, app.addrOf("http", 0), "x", "/"); status != 200 || body != "proto=HTTP/3.0" {
		t.Fatalf("through an h3 upstream: %d %q", status, body)
	}
}

// TestHTTPOverQUICStreams: protocol: quic serves each stream of a QUIC
// connection (the service's certificates, its ALPN) as an HTTP connection.
func TestHTTPOverQUICStreams(t *testing.T) {
	ca, err := testcert.NewCA(t.TempDir(), "ca")
	if err != nil {
		t.Fatal(err)
	}
	pair, err := ca.Server("localhost")
	if err != nil {
		t.Fatal(err)
	}
	app := runYAML(t, fmt.Sprintf(`http:
  - name: qs
    protocol: quic
    listen: ["127.0.0.1:0"]
    upstreams: [{addr: %q}]
    tls: {certificates: [{cert: %q, key: %q}], alpn: [sluice-test]}
`, origin(t, "S").Listener.Addr().String(), pair.CertFile, pair.KeyFile), io.Discard)
	ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
	defer cancel()
	conn, err := quic.DialAddr(ctx, app.addrOf("http", 0), &tls.Config{RootCAs: ca.Pool, ServerName: "localhost", NextProtos: []string{"sluice-test"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.CloseWithError(0, "")
	for i := range 2 {
		st, err := conn.OpenStreamSync(ctx)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(st, "GET /q%d HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", i)
		resp, err := http.ReadResponse(bufio.NewReader(st), nil)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		st.Close()
		if resp.StatusCode != 200 || !strings.HasPrefix(string(b), fmt.Sprintf("S /q%d", i)) {
			t.Fatalf("stream %d: %d %q", i, resp.StatusCode, b)
		}
	}
}

// TestHTTP3Keys: http3's keys reach the service's config.
func TestHTTP3Keys(t *testing.T) {
	ca, err := testcert.NewCA(t.TempDir(), "ca")
	if err != nil {
		t.Fatal(err)
	}
	pair, err := ca.Server("localhost")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := parseConfig("x.yaml", []byte(fmt.Sprintf("http:\n  - name: a\n    listen: [\"127.0.0.1:1\"]\n    upstreams: [{addr: \"127.0.0.1:2\"}]\n    tls: {certificates: [{cert: %q, key: %q}]}\n    http3: {listen: [\"127.0.0.1:3\"], zero_rtt: true, retry_above: 0, alt_svc: false}\n", pair.CertFile, pair.KeyFile)))
	if err != nil {
		t.Fatal(err)
	}
	if h := cfg.HTTP[0]; !h.ZeroRTT || h.RetryAbove != -1 || h.AltSvc {
		t.Fatalf("zero_rtt %v, retry_above %d (want -1: always), alt_svc %v", h.ZeroRTT, h.RetryAbove, h.AltSvc)
	}
}
