package tcpproxy

import (
	"bytes"
	"crypto/tls"
	"io"
	"net"
	"testing"
	"time"

	"github.com/sluice-proxy/sluice/internal/testcert"
	"github.com/sluice-proxy/sluice/internal/testserve"
	"github.com/sluice-proxy/sluice/lb"
	"github.com/sluice-proxy/sluice/protocols/tlshello"
	"github.com/sluice-proxy/sluice/transport"
)

// helloSink is an upstream that reads a ClientHello and reports what it
// saw, tagged with its name.
func helloSink(t *testing.T, name string, got chan<- string) *upstream {
	return newUpstream(t, func(c net.Conn) {
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		h, _, err := tlshello.Read(c, 0)
		if err != nil {
			got <- name + " error " + err.Error()
			return
		}
		alpn := ""
		if len(h.ALPN) > 0 {
			alpn = h.ALPN[0]
		}
		got <- name + " " + h.ServerName + " " + alpn
	})
}

// sendHello starts a TLS handshake through the proxy with sni and alpn;
// the handshake itself fails (the sinks speak no TLS), what matters is
// where the hello went.
func sendHello(t *testing.T, addr, sni string, alpn ...string) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	tc := tls.Client(c, &tls.Config{ServerName: sni, NextProtos: alpn, InsecureSkipVerify: true})
	tc.SetDeadline(time.Now().Add(10 * time.Second))
	tc.Handshake()
}

// Routing on the ClientHello without terminating: exact and wildcard SNI,
// ALPN, the default for the rest; the upstream gets the hello unchanged.
func TestRoutesBySNIAndALPN(t *testing.T) {
	got := make(chan string, 8)
	a, b, h2, def := helloSink(t, "A", got), helloSink(t, "B", got), helloSink(t, "H2", got), helloSink(t, "DEF", got)
	h := startProxy(t, Config{
		Balancer: balancer(t, lb.RoundRobin, def.addr),
		Routes: []Route{
			{Name: "a", ServerNames: []string{"a.example"}, Balancer: balancer(t, lb.RoundRobin, a.addr)},
			{Name: "b", ServerNames: []string{"*.b.example"}, Balancer: balancer(t, lb.RoundRobin, b.addr)},
			{Name: "h2", ALPN: []string{"h2"}, Balancer: balancer(t, lb.RoundRobin, h2.addr)},
		},
	})
	for _, tc := range []struct {
		sni  string
		alpn []string
		want string
	}{
		{"a.example", nil, "A a.example "},
		{"A.Example", []string{"h2"}, "A a.example h2"},
		{"x.b.example", nil, "B x.b.example "},
		{"b.example", []string{"h2"}, "H2 b.example h2"},
		{"y.x.b.example", nil, "DEF y.x.b.example "},
		{"other.example", []string{"http/1.1"}, "DEF other.example http/1.1"},
	} {
		sendHello(t, h.addr, tc.sni, tc.alpn...)
		if g := <-got; g != tc.want {
			t.Errorf("sni %q alpn %v: %q, want %q", tc.sni, tc.alpn, g, tc.want)
		}
	}
}

// Without a default, a hello no route takes is closed and counted; a
// non-TLS client is refused the same way; the upstream never sees either.
func TestRoutesNoRoute(t *testing.T) {
	got := make(chan string, 8)
	a := helloSink(t, "A", got)
	h := startProxy(t, Config{
		Routes: []Route{{Name: "a", ServerNames: []string{"a.example"}, Balancer: balancer(t, lb.RoundRobin, a.addr)}},
	})
	sendHello(t, h.addr, "z.example")
	c := dial(t, h.addr)
	c.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
	if b := readAll(t, c); len(b) != 0 {
		t.Fatalf("a non-TLS client got %q", b)
	}
	sendHello(t, h.addr, "a.example")
	if g := <-got; g != "A a.example " {
		t.Fatalf("the routed hello: %q", g)
	}
	waitIdle(t, h)
	if v := h.metric(t, "sluice_tcp_errors_total", map[string]string{"reason": "no_route"}); v != 1 {
		t.Errorf("errors{no_route} = %v, want 1", v)
	}
	if v := h.metric(t, "sluice_tcp_errors_total", map[string]string{"reason": "tls_not_tls"}); v != 1 {
		t.Errorf("errors{tls_not_tls} = %v, want 1", v)
	}
}

// The replayed hello still lets the relay splice: bytes after the hello
// flow both ways, byte-exact.
func TestRoutesRelayAfterHello(t *testing.T) {
	echoUp := newUpstream(t, echo)
	h := startProxy(t, Config{Routes: []Route{{ServerNames: []string{"e.example"}, Balancer: balancer(t, lb.RoundRobin, echoUp.addr)}}})
	hello := tlsHelloBytes(t, "e.example")
	c := dial(t, h.addr)
	payload := bytes.Repeat([]byte("0123456789abcdef"), 64<<10) // 1 MiB after the hello
	go func() {
		c.Write(hello)
		c.Write(payload)
		c.CloseWrite()
	}()
	back := readAll(t, c)
	if !bytes.Equal(back, append(hello, payload...)) {
		t.Fatalf("echoed %d bytes, want the hello and the payload (%d)", len(back), len(hello)+len(payload))
	}
}

// tlsHelloBytes is the ClientHello Go's client sends for sni.
func tlsHelloBytes(t *testing.T, sni string) []byte {
	t.Helper()
	b, err := testcert.ClientHello(&tls.Config{ServerName: sni, InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// UpstreamTLS: the proxy originates TLS to its upstream (plaintext on the
// client side); an upstream whose certificate does not verify is a failed
// connect with reason upstream_tls, and the next backend is tried.
func TestUpstreamTLS(t *testing.T) {
	dir := t.TempDir()
	ca, err := testcert.NewCA(dir, "ca")
	if err != nil {
		t.Fatal(err)
	}
	pair, err := ca.Server("up.example")
	if err != nil {
		t.Fatal(err)
	}
	good := testserve.TLS(t, &tls.Config{Certificates: []tls.Certificate{pair.TLS}}, func(c *tls.Conn) { io.Copy(c, c) })
	// The same upstream behind a second address, expected under another
	// name: its verification fails.
	wrong := newUpstream(t, func(c net.Conn) {
		u, err := net.Dial("tcp", good)
		if err != nil {
			return
		}
		defer u.Close()
		go io.Copy(u, c)
		io.Copy(c, u)
	})
	verified, err := transport.NewTLSClient(transport.ClientTLS{SNI: "up.example", CA: ca.CertFile})
	if err != nil {
		t.Fatal(err)
	}
	misnamed, err := transport.NewTLSClient(transport.ClientTLS{SNI: "nope.example", CA: ca.CertFile})
	if err != nil {
		t.Fatal(err)
	}
	h := startProxy(t, Config{
		Balancer:    balancer(t, lb.RoundRobin, wrong.addr, good),
		UpstreamTLS: map[string]*tls.Config{good: verified, wrong.addr: misnamed},
	})
	for range 2 { // the first try of one of them meets the misnamed upstream and fails over
		c := dial(t, h.addr)
		c.Write([]byte("plain"))
		c.CloseWrite()
		if got := readAll(t, c); string(got) != "plain" {
			t.Fatalf("echo through upstream TLS: %q", got)
		}
	}
	waitIdle(t, h)
	if v := h.metric(t, "sluice_tcp_upstream_connect_errors_total", map[string]string{"upstream": wrong.addr}); v < 1 {
		t.Errorf("connect errors of the misnamed upstream = %v, want at least 1", v)
	}
}
