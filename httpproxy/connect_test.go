package httpproxy

import (
	"bufio"
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	xh2 "golang.org/x/net/http2"

	"github.com/sluice-proxy/sluice/internal/testcert"
	"github.com/sluice-proxy/sluice/shell"
	"github.com/sluice-proxy/sluice/transport"
)

// echoTarget is a CONNECT target that echoes what it gets.
func echoTarget(t *testing.T) string {
	return rawOrigin(t, func(c net.Conn) {
		defer c.Close()
		io.Copy(c, c)
	})
}

// CONNECT from HTTP/1.1: an allowed target gets 200 (no Content-Length)
// and a byte tunnel; another gets 403; a Service without Connect, 405.
func TestConnectTunnelH1(t *testing.T) {
	target := echoTarget(t)
	h := startService(t, static{&Peer{Addr: deadAddrFor(t)}}, Config{Connect: &ConnectConfig{Allow: []string{target}}})
	c := dialProxy(t, h.addr)
	c.c.SetDeadline(time.Now().Add(safety))
	c.send("CONNECT " + target + " HTTP/1.1\r\nHost: " + target + "\r\n\r\n")
	resp, err := http.ReadResponse(c.r, &http.Request{Method: "CONNECT"})
	if err != nil || resp.StatusCode != 200 || resp.Header.Get("Content-Length") != "" {
		t.Fatalf("CONNECT: %v %v", resp, err)
	}
	for _, msg := range []string{"ping", "pong"} {
		c.send(msg)
		got := make([]byte, len(msg))
		if _, err := io.ReadFull(c.r, got); err != nil || string(got) != msg {
			t.Fatalf("through the tunnel %q: %q %v", msg, got, err)
		}
	}
	c.c.Close()
	if m := h.request(t); m["method"] != "CONNECT" || m["status"] != "200" || m["request_body_bytes"] != "8" {
		t.Errorf("logged %v", m)
	}

	c2 := dialProxy(t, h.addr)
	c2.send("CONNECT 127.0.0.1:1 HTTP/1.1\r\nHost: 127.0.0.1:1\r\n\r\n")
	if resp, _ := c2.response("CONNECT"); resp.StatusCode != 403 {
		t.Fatalf("CONNECT outside allow: %d, want 403", resp.StatusCode)
	}
	h2 := startService(t, static{&Peer{Addr: target}}, Config{})
	c3 := dialProxy(t, h2.addr)
	c3.send("CONNECT " + target + " HTTP/1.1\r\nHost: " + target + "\r\n\r\n")
	if resp, _ := c3.response("CONNECT"); resp.StatusCode != 405 {
		t.Fatalf("CONNECT without Config.Connect: %d, want 405", resp.StatusCode)
	}
}

// deadAddrFor is a loopback address nothing listens on.
func deadAddrFor(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := ln.Addr().String()
	ln.Close()
	return a
}

// CONNECT in pipeline mode: the tunnel's inside is served as a connection
// of the same Service, so an inner HTTP/1.1 request reaches the Service's
// upstream, logged with the outer client's address.
func TestConnectPipelineH1(t *testing.T) {
	o := h2Origin(t)
	h := startService(t, static{&Peer{Addr: o.addr}}, Config{Connect: &ConnectConfig{Allow: []string{"app.internal:80"}, Mode: ConnectPipeline}})
	c := dialProxy(t, h.addr)
	c.c.SetDeadline(time.Now().Add(safety))
	c.send("CONNECT app.internal:80 HTTP/1.1\r\nHost: app.internal:80\r\n\r\n")
	resp, err := http.ReadResponse(c.r, &http.Request{Method: "CONNECT"})
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("CONNECT: %v %v", resp, err)
	}
	c.send("GET /inner HTTP/1.1\r\nHost: app.internal\r\n\r\n")
	if resp, body := c.response("GET"); resp.StatusCode != 200 || !strings.HasPrefix(body, "origin GET /inner") {
		t.Fatalf("inner request: %d %q", resp.StatusCode, body)
	}
	m := h.request(t)
	if m["target"] != "/inner" || m["client"] != c.c.LocalAddr().String() {
		t.Errorf("inner request logged %v, want target /inner from %s", m, c.c.LocalAddr())
	}
}

// CONNECT over HTTP/2 (RFC 9113 8.5), from x/net's client: a tunnel on the
// stream to an allowed target; and in pipeline mode an inner request.
func TestConnectH2(t *testing.T) {
	target := echoTarget(t)
	o := h2Origin(t)
	for _, mode := range []ConnectMode{ConnectTunnel, ConnectPipeline} {
		allow := target
		if mode == ConnectPipeline {
			allow = "app.internal:80"
		}
		h := startService(t, static{&Peer{Addr: o.addr}}, Config{H2C: true, Connect: &ConnectConfig{Allow: []string{allow}, Mode: mode}})
		conn, err := net.Dial("tcp", h.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		cc, err := (&xh2.Transport{AllowHTTP: true}).NewClientConn(conn)
		if err != nil {
			t.Fatal(err)
		}
		pr, pw := io.Pipe()
		req := &http.Request{Method: "CONNECT", URL: &url.URL{Scheme: "http", Host: allow}, Host: allow, Header: http.Header{}, Body: pr}
		ctx, cancel := context.WithTimeout(context.Background(), safety)
		defer cancel()
		resp, err := cc.RoundTrip(req.WithContext(ctx))
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("mode %d: CONNECT over h2: %v %v", mode, resp, err)
		}
		br := bufio.NewReader(resp.Body)
		if mode == ConnectTunnel {
			pw.Write([]byte("ping"))
			got := make([]byte, 4)
			if _, err := io.ReadFull(br, got); err != nil || string(got) != "ping" {
				t.Fatalf("through the h2 tunnel: %q %v", got, err)
			}
		} else {
			pw.Write([]byte("GET /in-h2 HTTP/1.1\r\nHost: app.internal\r\n\r\n"))
			inner, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(io.LimitReader(inner.Body, 1<<10))
			if inner.StatusCode != 200 || !strings.HasPrefix(string(b), "origin GET /in-h2") {
				t.Fatalf("inner request over an h2 CONNECT: %d %q", inner.StatusCode, b)
			}
		}
		pw.Close()
	}
}

// A pipeline tunnel that starts with a TLS handshake is terminated with the
// service's certificates (TLS inside TLS here: an HTTPS proxy), and its
// inner HTTP/1.1 request served.
func TestConnectPipelineInnerTLS(t *testing.T) {
	ca, err := testcert.NewCA(t.TempDir(), "ca")
	if err != nil {
		t.Fatal(err)
	}
	pair, err := ca.Server("localhost", "app.internal")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := transport.NewTLSServer(transport.ServerTLS{Certificates: []transport.CertFiles{{Cert: pair.CertFile, Key: pair.KeyFile}}, ALPN: []string{"http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	o := h2Origin(t)
	h := startService(t, static{&Peer{Addr: o.addr}}, Config{TLS: &shell.TLS{Server: srv}, Connect: &ConnectConfig{Allow: []string{"app.internal:443"}, Mode: ConnectPipeline}})
	outer, err := tls.Dial("tcp", h.addr, &tls.Config{RootCAs: ca.Pool, ServerName: "localhost"})
	if err != nil {
		t.Fatal(err)
	}
	defer outer.Close()
	outer.SetDeadline(time.Now().Add(safety))
	io.WriteString(outer, "CONNECT app.internal:443 HTTP/1.1\r\nHost: app.internal:443\r\n\r\n")
	br := bufio.NewReader(outer)
	if resp, err := http.ReadResponse(br, &http.Request{Method: "CONNECT"}); err != nil || resp.StatusCode != 200 {
		t.Fatalf("CONNECT: %v %v", resp, err)
	}
	if br.Buffered() != 0 {
		t.Fatal("bytes after the 200")
	}
	inner := tls.Client(outer, &tls.Config{RootCAs: ca.Pool, ServerName: "app.internal"})
	io.WriteString(inner, "GET /tls-inside HTTP/1.1\r\nHost: app.internal\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(inner), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<10))
	if resp.StatusCode != 200 || !strings.HasPrefix(string(b), "origin GET /tls-inside") {
		t.Fatalf("inner TLS request: %d %q", resp.StatusCode, b)
	}
}

// ServeStream takes HTTP/2 too: a stream that starts with the preface on
// a Service with H2C is served as h2c (a custom protocol's streams can
// carry either).
func TestServeStreamH2C(t *testing.T) {
	o := h2Origin(t)
	h := startService(t, static{&Peer{Addr: o.addr}}, Config{H2C: true})
	a, b := net.Pipe()
	go h.svc.ServeStream(context.Background(), b)
	defer a.Close()
	cc, err := (&xh2.Transport{AllowHTTP: true}).NewClientConn(a)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("GET", "http://x/over-stream", nil)
	ctx, cancel := context.WithTimeout(context.Background(), safety)
	defer cancel()
	resp, err := cc.RoundTrip(req.WithContext(ctx))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.ProtoMajor != 2 || !strings.HasPrefix(string(body), "origin GET /over-stream") {
		t.Fatalf("h2c over ServeStream: %s %q", resp.Proto, body)
	}
}
