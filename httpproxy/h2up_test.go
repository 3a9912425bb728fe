package httpproxy

import (
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	xh2 "golang.org/x/net/http2"

	"github.com/sluice-proxy/sluice/internal/testcert"
	"github.com/sluice-proxy/sluice/transport"
)

// newH2COrigin is h2Origin's handler served over HTTP/2 with prior
// knowledge (and HTTP/1.1) on 127.0.0.1:0.
func newH2COrigin(t *testing.T, h http.Handler) *origin {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	o := &origin{addr: ln.Addr().String()}
	o.srv = &http.Server{Handler: h, Protocols: new(http.Protocols), ConnState: func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			o.conns.Add(1)
		}
	}}
	o.srv.Protocols.SetUnencryptedHTTP2(true)
	o.srv.Protocols.SetHTTP1(true)
	done := make(chan struct{})
	go func() {
		defer close(done)
		o.srv.Serve(ln)
	}()
	t.Cleanup(func() {
		o.srv.Close()
		<-done
	})
	return o
}

// HTTP/2 end to end over cleartext: an h2c client through an h2c
// upstream, with bodies of known and unknown length, trailers both ways
// back and concurrent streams; and an HTTP/1.1 client through the same
// upstream, translated.
func TestH2CUpstream(t *testing.T) {
	o := newH2COrigin(t, h2Handler())
	h := startService(t, static{&Peer{Addr: o.addr, Protocol: H2C}}, Config{H2C: true})
	h2ExerciseTo(t, h2cClient(t, nil), "http://"+h.addr, "HTTP/2.0")

	c := dialProxy(t, h.addr)
	c.send("GET /h1 HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, body := c.response("GET")
	if resp.StatusCode != 200 || !strings.HasPrefix(body, "origin GET /h1") || resp.Header.Get("X-Proto-Seen") != "HTTP/2.0" {
		t.Fatalf("HTTP/1.1 client to an h2c origin: %d %q %v", resp.StatusCode, body, resp.Header)
	}
	c.send("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n")
	resp, body = c.response("POST")
	if resp.StatusCode != 200 || body != "hello" || resp.Trailer.Get("X-Sum") != "5" {
		t.Fatalf("chunked POST: %d %q trailer %v", resp.StatusCode, body, resp.Trailer)
	}
	if n := o.conns.Load(); n != 1 {
		t.Errorf("the origin saw %d connections; every stream shares one", n)
	}
	if n := h.svc.pool.HTTP2Conns(); n != 1 {
		t.Errorf("pool holds %d HTTP/2 connections, want 1", n)
	}
}

// barrierOrigin answers once n requests are in at the same time.
func barrierOrigin(n int) (http.Handler, *atomic.Int32) {
	var in atomic.Int32
	all := make(chan struct{})
	var once sync.Once
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if in.Add(1) == int32(n) {
			once.Do(func() { close(all) })
		}
		<-all
		fmt.Fprint(w, r.URL.Path)
	}), &in
}

// Concurrent requests share HTTP/2 connections: all of them on one when
// the peer's limit allows, and a new connection only when every one has
// MaxStreams requests in flight.
func TestH2UpstreamMaxStreams(t *testing.T) {
	for _, tc := range []struct{ maxStreams, want int }{{0, 1}, {5, 4}} {
		t.Run(fmt.Sprint("max_streams=", tc.maxStreams), func(t *testing.T) {
			const clients = 20
			hd, _ := barrierOrigin(clients)
			o := newH2COrigin(t, hd)
			h := startService(t, static{&Peer{Addr: o.addr, Protocol: H2C, MaxStreams: tc.maxStreams}}, Config{})
			var wg sync.WaitGroup
			for i := range clients {
				wg.Add(1)
				go func() {
					defer wg.Done()
					c := dialProxy(t, h.addr)
					c.send(fmt.Sprintf("GET /%d HTTP/1.1\r\nHost: x\r\n\r\n", i))
					if resp, body := c.response("GET"); resp.StatusCode != 200 || body != fmt.Sprintf("/%d", i) {
						t.Errorf("request %d: %d %q", i, resp.StatusCode, body)
					}
				}()
			}
			wg.Wait()
			if n := o.conns.Load(); n != int64(tc.want) {
				t.Errorf("%d requests at once with max_streams %d used %d connections, want %d", clients, tc.maxStreams, n, tc.want)
			}
		})
	}
}

// h2 over TLS (ALPN h2), and auto: h2 where the origin offers it, HTTP/1.1
// (pooled as usual) where it does not.
func TestH2UpstreamTLS(t *testing.T) {
	ca, err := testcert.NewCA(t.TempDir(), "ca")
	if err != nil {
		t.Fatal(err)
	}
	pair, err := ca.Server("origin.example")
	if err != nil {
		t.Fatal(err)
	}
	start := func(h2 bool) string {
		o := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, "%s tls=%v", r.Proto, r.TLS != nil)
		}))
		o.EnableHTTP2 = h2
		o.TLS = &tls.Config{Certificates: []tls.Certificate{pair.TLS}}
		o.StartTLS()
		t.Cleanup(o.Close)
		return o.Listener.Addr().String()
	}
	cfg, err := transport.NewTLSClient(transport.ClientTLS{SNI: "origin.example", CA: ca.CertFile})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		proto Protocol
		h2    bool
		want  string
	}{
		{"h2", H2, true, "HTTP/2.0 tls=true"},
		{"auto to h2", Auto, true, "HTTP/2.0 tls=true"},
		{"auto to http1", Auto, false, "HTTP/1.1 tls=true"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := start(tc.h2)
			h := startService(t, static{&Peer{Addr: addr, TLS: cfg, Protocol: tc.proto}}, Config{})
			c := dialProxy(t, h.addr)
			for range 2 {
				c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
				if resp, body := c.response("GET"); resp.StatusCode != 200 || body != tc.want {
					t.Fatalf("%d %q, want %q", resp.StatusCode, body, tc.want)
				}
				h.request(t)
			}
			if !tc.h2 {
				if v := h.metric(t, "sluice_http_upstream_requests_total", "reused", "true"); v != 1 {
					t.Errorf("reused upstream requests = %v, want 1: the HTTP/1.1 connection ALPN chose is pooled", v)
				}
			}
		})
	}
	// h2 to an origin without it: ALPN fails, a 502 logged as upstream_tls.
	addr := start(false)
	h := startService(t, static{&Peer{Addr: addr, TLS: cfg, Protocol: H2}}, Config{MaxRetries: -1})
	c := dialProxy(t, h.addr)
	c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	if resp, _ := c.response("GET"); resp.StatusCode != http.StatusBadGateway {
		t.Fatalf("h2 to an HTTP/1.1-only origin: %d, want 502", resp.StatusCode)
	}
	if m := h.request(t); m["kind"] != "upstream_tls" {
		t.Fatalf("logged kind %q, want upstream_tls", m["kind"])
	}
}

// A request on a stream the upstream's GOAWAY left unprocessed (above its
// last stream ID) goes again on a new connection: the first connection
// answers every stream with GOAWAY(last stream 0), the next ones serve.
func TestH2UpstreamGoAwayRetried(t *testing.T) {
	var conns atomic.Int32
	addr := rawOrigin(t, func(c net.Conn) {
		if conns.Add(1) > 1 {
			(&xh2.Server{}).ServeConn(c, &xh2.ServeConnOpts{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				fmt.Fprintf(w, "served %s", r.URL.Path)
			})})
			return
		}
		goAwayFirst(c)
	})
	h := startService(t, static{&Peer{Addr: addr, Protocol: H2C}}, Config{MaxRetries: -1})
	c := dialProxy(t, h.addr)
	c.send("GET /again HTTP/1.1\r\nHost: x\r\n\r\n")
	if resp, body := c.response("GET"); resp.StatusCode != 200 || body != "served /again" {
		t.Fatalf("after a GOAWAY below the stream: %d %q", resp.StatusCode, body)
	}
	if n := conns.Load(); n != 2 {
		t.Errorf("%d upstream connections, want 2", n)
	}
}

// goAwayFirst speaks just enough HTTP/2 to refuse every stream: the
// preface and SETTINGS, then GOAWAY(last stream 0) at the first HEADERS.
func goAwayFirst(c net.Conn) {
	defer c.Close()
	preface := make([]byte, len(xh2.ClientPreface))
	if _, err := io.ReadFull(c, preface); err != nil {
		return
	}
	fr := xh2.NewFramer(c, c)
	fr.WriteSettings()
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			return
		}
		switch f := f.(type) {
		case *xh2.SettingsFrame:
			if !f.IsAck() {
				fr.WriteSettingsAck()
			}
		case *xh2.HeadersFrame:
			fr.WriteGoAway(0, xh2.ErrCodeNo, nil)
			// Let the client read it before the close.
			c.SetReadDeadline(time.Now().Add(time.Second))
			io.Copy(io.Discard, c)
			return
		}
	}
}
