package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"golang.org/x/net/http2"

	"github.com/sluice-proxy/sluice/internal/testcert"
)

// TestHTTP2ThroughTheBinary: an http: service with h2c: true serves HTTP/2
// with prior knowledge, and one with tls.alpn [h2, http/1.1] serves h2
// over TLS, both into the same routes and phases as HTTP/1.1 (the route's
// header is set); an HTTP/1.1 client is still served on the h2c listener.
func TestHTTP2ThroughTheBinary(t *testing.T) {
	o := origin(t, "O")
	ca, err := testcert.NewCA(t.TempDir(), "ca")
	if err != nil {
		t.Fatal(err)
	}
	pair, err := ca.Server("localhost", "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	app := runYAML(t, fmt.Sprintf(`log: {level: error}
http:
  - name: h2c
    listen: ["127.0.0.1:0"]
    upstreams: [{addr: %[1]q}]
    set_request_headers: {X-Proxy: sluice}
    h2c: true
    h2: {max_concurrent_streams: 50}
  - name: h2tls
    listen: ["127.0.0.1:0"]
    upstreams: [{addr: %[1]q}]
    set_request_headers: {X-Proxy: sluice}
    tls: {certificates: [{cert: %[2]q, key: %[3]q}], alpn: [h2, http/1.1]}
`, o.Listener.Addr(), pair.CertFile, pair.KeyFile), io.Discard)
	h2c := &http2.Transport{AllowHTTP: true, DialTLSContext: func(ctx context.Context, network, addr string, _ *tls.Config) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}}
	h2s := &http2.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool, ServerName: "localhost"}}
	defer h2c.CloseIdleConnections()
	defer h2s.CloseIdleConnections()
	for _, tc := range []struct {
		name, url string
		tr        http.RoundTripper
	}{
		{"h2c", "http://" + app.addrOf("http", 0) + "/p", h2c},
		{"h2 over TLS", "https://" + app.addrOf("http", 1) + "/p", h2s},
	} {
		resp, err := (&http.Client{Transport: tc.tr, Timeout: hangGuard}).Get(tc.url)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.ProtoMajor != 2 || resp.StatusCode != 200 || !strings.HasPrefix(string(b), "O /p X-Proxy=sluice") {
			t.Fatalf("%s: %s %d %q", tc.name, resp.Proto, resp.StatusCode, b)
		}
	}
	if status, body := get(t, &http.Client{}, app.addrOf("http", 0), "x", "/h1"); status != 200 || !strings.HasPrefix(body, "O /h1") {
		t.Fatalf("HTTP/1.1 on the h2c listener: %d %q", status, body)
	}
}

// TestH2ConfigErrors: h2: bounds name their key and line.
func TestH2ConfigErrors(t *testing.T) {
	head := "http:\n  - name: a\n    listen: [\"127.0.0.1:1\"]\n    upstreams: [{addr: \"127.0.0.1:2\"}]\n"
	for _, tc := range []struct{ yaml, want string }{
		{head + "    h2: {initial_window: 10}\n", "x.yaml:5: http[0].h2.initial_window: must be between 1024"},
		{head + "    h2: {max_frame_size: 100}\n", "x.yaml:5: http[0].h2.max_frame_size: must be between 16384"},
		{head + "    h2: {max_header_list_size: 10}\n", "http[0].h2.max_header_list_size: must be at least 1024"},
		{head + "    h2: {max_concurrent_streams: 100000}\n", "http[0].h2.max_concurrent_streams: must be at most 10000"},
	} {
		if _, err := parseConfig("x.yaml", []byte(tc.yaml)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("error %v, want %q", err, tc.want)
		}
	}
}
