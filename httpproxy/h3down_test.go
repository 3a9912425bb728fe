package httpproxy

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/quic-go/quic-go/http3"

	"github.com/sluice-proxy/sluice/internal/testcert"
	"github.com/sluice-proxy/sluice/transport"
)

// HTTP/3 downstream: quic-go's client through ServeHTTP3 to an HTTP/1.1
// origin: a GET, and a POST with a body of unknown length echoed with its
// trailer; the access log has the client's UDP address.
func TestHTTP3Downstream(t *testing.T) {
	ca, err := testcert.NewCA(t.TempDir(), "ca")
	if err != nil {
		t.Fatal(err)
	}
	pair, err := ca.Server("localhost", "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := transport.NewTLSServer(transport.ServerTLS{Certificates: []transport.CertFiles{{Cert: pair.CertFile, Key: pair.KeyFile}}})
	if err != nil {
		t.Fatal(err)
	}
	o := h2Origin(t)
	h := startService(t, static{&Peer{Addr: o.addr}}, Config{})
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	served := make(chan error, 1)
	go func() { served <- h.svc.ServeHTTP3(pc, srv.Config()) }()
	t.Cleanup(func() {
		if err := <-served; err != nil {
			t.Errorf("ServeHTTP3: %v", err)
		}
	})
	tr := &http3.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool, ServerName: "localhost"}}
	defer tr.Close()
	c := &http.Client{Transport: tr, Timeout: safety}
	base := "https://" + pc.LocalAddr().String()
	resp, err := c.Get(base + "/h3")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.ProtoMajor != 3 || !strings.HasPrefix(string(b), "origin GET /h3") {
		t.Fatalf("GET over h3: %s %d %q", resp.Proto, resp.StatusCode, b)
	}
	if m := h.request(t); !strings.HasPrefix(m["client"], "127.0.0.1:") || m["target"] != "/h3" {
		t.Errorf("logged %v", m)
	}
	payload := bytes.Repeat([]byte("h3body"), 10000)
	resp, err = c.Post(base+"/echo", "application/octet-stream", io.MultiReader(bytes.NewReader(payload)))
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if !bytes.Equal(b, payload) || resp.Trailer.Get("X-Sum") != fmt.Sprint(len(payload)) {
		t.Fatalf("POST over h3: %d bytes, trailer %v", len(b), resp.Trailer)
	}
}
