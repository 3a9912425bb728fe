package httpproxy

import (
	"crypto/tls"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/sluice-proxy/sluice/internal/testcert"
	"github.com/sluice-proxy/sluice/transport"
)

// A Peer with TLS reaches an HTTPS origin, and its connection is pooled
// and reused like a cleartext one; an origin whose name does not verify
// is a 502 logged as upstream_tls.
func TestUpstreamTLS(t *testing.T) {
	ca, err := testcert.NewCA(t.TempDir(), "ca")
	if err != nil {
		t.Fatal(err)
	}
	pair, err := ca.Server("origin.example")
	if err != nil {
		t.Fatal(err)
	}
	o := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "over tls: %v", r.TLS != nil)
	}))
	o.TLS = &tls.Config{Certificates: []tls.Certificate{pair.TLS}}
	o.StartTLS()
	defer o.Close()
	addr := o.Listener.Addr().String()
	verified, err := transport.NewTLSClient(transport.ClientTLS{SNI: "origin.example", CA: ca.CertFile, ALPN: []string{"http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	h := startService(t, static{&Peer{Addr: addr, TLS: verified}}, Config{})
	c := dialProxy(t, h.addr)
	for range 2 {
		c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		if resp, body := c.response("GET"); resp.StatusCode != 200 || body != "over tls: true" {
			t.Fatalf("%d %q", resp.StatusCode, body)
		}
		h.request(t)
	}
	if v := h.metric(t, "sluice_http_upstream_requests_total", "reused", "true"); v != 1 {
		t.Errorf("reused upstream requests = %v, want 1: the TLS connection is pooled", v)
	}

	misnamed, err := transport.NewTLSClient(transport.ClientTLS{SNI: "other.example", CA: ca.CertFile})
	if err != nil {
		t.Fatal(err)
	}
	h2 := startService(t, static{&Peer{Addr: addr, TLS: misnamed}}, Config{MaxRetries: -1})
	c2 := dialProxy(t, h2.addr)
	c2.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	if resp, _ := c2.response("GET"); resp.StatusCode != http.StatusBadGateway {
		t.Fatalf("misnamed origin: %d, want 502", resp.StatusCode)
	}
	if m := h2.request(t); m["kind"] != "upstream_tls" {
		t.Fatalf("logged kind %q, want upstream_tls", m["kind"])
	}
}
