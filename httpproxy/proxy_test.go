package httpproxy

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"

	"github.com/sluice-proxy/sluice/protocols/http1"
	"github.com/sluice-proxy/sluice/protocols/proxyproto"
)

var _ Proxy = static{}

func TestRoundTripAndHeaders(t *testing.T) {
	seen := make(chan http.Header, 1)
	o := newOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen <- r.Header.Clone()
		w.Header().Set("X-Origin", "yes")
		w.Header().Set("Keep-Alive", "timeout=5")
		fmt.Fprintf(w, "hello %s %s", r.Method, r.URL.Path)
	}))
	h := startService(t, static{&Peer{Addr: o.addr}}, Config{XForwardedFor: true})
	c := dialProxy(t, h.addr)
	c.send("GET /a?b=1 HTTP/1.1\r\nHost: example.test\r\nConnection: X-Secret, keep-alive\r\nX-Secret: 1\r\n" +
		"Proxy-Connection: keep-alive\r\nX-Kept: 2\r\nX-Forwarded-For: 192.0.2.1\r\n\r\n")
	resp, body := c.response("GET")
	if resp.StatusCode != 200 || body != "hello GET /a" {
		t.Fatalf("got %d %q", resp.StatusCode, body)
	}
	if resp.Header.Get("X-Origin") != "yes" || resp.Header.Get("Keep-Alive") != "" {
		t.Errorf("response header %v: want X-Origin kept and Keep-Alive removed", resp.Header)
	}
	got := <-seen
	if got.Get("X-Secret") != "" || got.Get("Proxy-Connection") != "" {
		t.Errorf("hop-by-hop fields reached the upstream: %v", got)
	}
	if got.Get("X-Kept") != "2" {
		t.Errorf("X-Kept = %q", got.Get("X-Kept"))
	}
	if xff := got.Get("X-Forwarded-For"); xff != "192.0.2.1, 127.0.0.1" {
		t.Errorf("X-Forwarded-For = %q", xff)
	}
	h.request(t)
	if v := h.metric(t, "sluice_http_requests_total", "code", "2xx"); v != 1 {
		t.Errorf("2xx requests = %v", v)
	}
}

func TestPoolReuse(t *testing.T) {
	o := newOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	}))
	h := startService(t, static{&Peer{Addr: o.addr}}, Config{})
	// Requests on separate client connections, one after the other, share
	// one upstream connection.
	for i := range 5 {
		c := dialProxy(t, h.addr)
		c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		if resp, body := c.response("GET"); resp.StatusCode != 200 || body != "ok" {
			t.Fatalf("request %d: %d %q", i, resp.StatusCode, body)
		}
	}
	if n := o.conns.Load(); n != 1 {
		t.Errorf("upstream connections = %d, want 1", n)
	}
	if v := h.metric(t, "sluice_http_upstream_requests_total", "reused", "true"); v != 4 {
		t.Errorf("reused = %v, want 4", v)
	}
}

func TestNoReuseAfterClose(t *testing.T) {
	o := newOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "close")
		io.WriteString(w, "ok")
	}))
	h := startService(t, static{&Peer{Addr: o.addr}}, Config{})
	c := dialProxy(t, h.addr)
	for i := range 3 {
		c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		resp, _ := c.response("GET")
		if resp.StatusCode != 200 || resp.Close {
			t.Fatalf("request %d: %d close=%v (the client connection must stay open)", i, resp.StatusCode, resp.Close)
		}
	}
	if n := o.conns.Load(); n != 3 {
		t.Errorf("upstream connections = %d, want 3", n)
	}
}

func TestPipelined(t *testing.T) {
	o := newOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%s:%s", r.URL.Path, b)
	}))
	h := startService(t, static{&Peer{Addr: o.addr}}, Config{})
	c := dialProxy(t, h.addr)
	c.send("GET /1 HTTP/1.1\r\nHost: x\r\n\r\n" +
		"POST /2 HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc" +
		"POST /3 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nde\r\n0\r\n\r\n" +
		"GET /4 HTTP/1.1\r\nHost: x\r\n\r\n")
	for _, want := range []string{"/1:", "/2:abc", "/3:de", "/4:"} {
		if resp, body := c.response("GET"); resp.StatusCode != 200 || body != want {
			t.Fatalf("got %d %q, want %q", resp.StatusCode, body, want)
		}
	}
}

func TestChunkedWithTrailers(t *testing.T) {
	type seenReq struct {
		body    string
		trailer string
	}
	seen := make(chan seenReq, 1)
	o := newOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		seen <- seenReq{string(b), r.Trailer.Get("X-Sum")}
		w.Header().Set("Trailer", "X-Reply")
		w.WriteHeader(200)
		io.WriteString(w, "part1")
		w.(http.Flusher).Flush()
		io.WriteString(w, "part2")
		w.Header().Set("X-Reply", "done")
	}))
	h := startService(t, static{&Peer{Addr: o.addr}}, Config{})
	c := dialProxy(t, h.addr)
	c.send("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n" +
		"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Sum: 11\r\n\r\n")
	resp, body := c.response("POST")
	if body != "part1part2" {
		t.Errorf("body %q", body)
	}
	if resp.Trailer.Get("X-Reply") != "done" {
		t.Errorf("response trailers %v", resp.Trailer)
	}
	got := <-seen
	if got.body != "hello world" || got.trailer != "11" {
		t.Errorf("upstream got %+v", got)
	}
}

func TestExpectContinue(t *testing.T) {
	o := newOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body) // net/http sends 100 Continue on this read
		fmt.Fprintf(w, "got %s", b)
	}))
	h := startService(t, static{&Peer{Addr: o.addr}}, Config{})
	c := dialProxy(t, h.addr)
	c.send("PUT / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n")
	line, err := c.r.ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "HTTP/1.1 100") {
		t.Fatalf("first line %q, %v: want 100 Continue", line, err)
	}
	for line != "\r\n" {
		if line, err = c.r.ReadString('\n'); err != nil {
			t.Fatal(err)
		}
	}
	c.send("data")
	if resp, body := c.response("PUT"); resp.StatusCode != 200 || body != "got data" {
		t.Fatalf("got %d %q", resp.StatusCode, body)
	}
}

func TestUpgradeTunnel(t *testing.T) {
	up := rawOrigin(t, func(c net.Conn) {
		r := bufio.NewReader(c)
		req, err := http.ReadRequest(r)
		if err != nil {
			return
		}
		if req.Header.Get("Upgrade") != "echo" || !strings.EqualFold(req.Header.Get("Connection"), "upgrade") {
			io.WriteString(c, "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
			return
		}
		io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\nhi ")
		io.Copy(c, r) // echo until the client half-closes
	})
	h := startService(t, static{&Peer{Addr: up}}, Config{})
	c := dialProxy(t, h.addr)
	c.send("GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
	resp, err := http.ReadResponse(c.r, nil)
	if err != nil || resp.StatusCode != 101 {
		t.Fatalf("got %v, %v", resp, err)
	}
	c.send("ping")
	c.c.(*net.TCPConn).CloseWrite()
	rest, err := io.ReadAll(c.r)
	if err != nil || string(rest) != "hi ping" {
		t.Fatalf("tunnel gave %q, %v", rest, err)
	}
}

// An Upgrade request the upstream answers without 101 stays HTTP: bytes
// after it are the next request, not tunnel data (CVE-2026-2833).
func TestUpgradeRefusedStaysHTTP(t *testing.T) {
	o := newOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "plain %s", r.URL.Path)
	}))
	h := startService(t, static{&Peer{Addr: o.addr}}, Config{})
	c := dialProxy(t, h.addr)
	c.send("GET /1 HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\nGET /2 HTTP/1.1\r\nHost: x\r\n\r\n")
	for _, want := range []string{"plain /1", "plain /2"} {
		if resp, body := c.response("GET"); resp.StatusCode != 200 || body != want {
			t.Fatalf("got %d %q, want %q", resp.StatusCode, body, want)
		}
	}
}

func TestRequestFramingFaults(t *testing.T) {
	o := newOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// A fault in a chunked body shows only once the head has gone
		// upstream; every other fault must be caught before.
		if r.URL.Path != "/late" {
			t.Errorf("a bad request reached the upstream: %s %s", r.Method, r.URL)
		}
		io.Copy(io.Discard, r.Body)
	}))
	tests := []struct {
		name, req string
		status    int
	}{
		{"TE and CL", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400},
		{"TE not chunked last", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", 400},
		{"TE on 1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400},
		{"two CL", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\na", 400},
		{"bad CL", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +1\r\n\r\na", 400},
		{"obs-fold", "GET / HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n 2\r\n\r\n", 400},
		{"space before colon", "GET / HTTP/1.1\r\nHost : x\r\n\r\n", 400},
		{"bare CR", "GET / HTTP/1.1\r\nHost: x\r\nX-A: 1\r2\r\n\r\n", 400},
		{"NUL", "GET / HTTP/1.1\r\nHost: x\r\nX-A: 1\x002\r\n\r\n", 400},
		{"no Host", "GET / HTTP/1.1\r\n\r\n", 400},
		{"two Host", "GET / HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n", 400},
		{"bad chunk size", "POST /late HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400},
		{"HTTP/2.0", "GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505},
	}
	h := startService(t, static{&Peer{Addr: o.addr}}, Config{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := dialProxy(t, h.addr)
			c.send(tt.req)
			resp, _ := c.response("GET")
			if resp.StatusCode != tt.status {
				t.Errorf("status %d, want %d", resp.StatusCode, tt.status)
			}
			if !c.closed() {
				t.Errorf("connection left open after a framing fault")
			}
		})
	}
}

func TestResponseFramingFaults(t *testing.T) {
	tests := []struct{ name, resp string }{
		{"TE and CL", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"},
		{"two CL", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nab"},
		{"obs-fold", "HTTP/1.1 200 OK\r\nX-A: 1\r\n 2\r\nContent-Length: 0\r\n\r\n"},
		{"garbage", "HELLO\r\n\r\n"},
		{"bad status", "HTTP/1.1 2000 OK\r\n\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conns := make(chan struct{}, 10)
			up := rawOrigin(t, func(c net.Conn) {
				conns <- struct{}{}
				r := bufio.NewReader(c)
				for {
					if _, err := http.ReadRequest(r); err != nil {
						return
					}
					io.WriteString(c, tt.resp)
				}
			})
			h := startService(t, static{&Peer{Addr: up}}, Config{MaxRetries: -1})
			for range 2 {
				c := dialProxy(t, h.addr)
				c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
				if resp, _ := c.response("GET"); resp.StatusCode != 502 {
					t.Errorf("status %d, want 502", resp.StatusCode)
				}
				h.request(t)
			}
			if len(conns) != 2 {
				t.Errorf("upstream connections = %d, want 2 (a connection with a bad response must not be reused)", len(conns))
			}
			if v := h.metric(t, "sluice_http_errors_total", "kind", "upstream_protocol"); v != 2 {
				t.Errorf("upstream_protocol errors = %v", v)
			}
		})
	}
}

var _ = http1.NoBody

func TestProxyProtocolIn(t *testing.T) {
	seen := make(chan string, 1)
	o := newOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen <- r.Header.Get("X-Forwarded-For")
	}))
	pin := &proxyproto.Acceptor{Trusted: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}
	h := startService(t, static{&Peer{Addr: o.addr}}, Config{ProxyIn: pin, XForwardedFor: true})
	c := dialProxy(t, h.addr)
	c.send("PROXY TCP4 203.0.113.7 127.0.0.1 40000 80\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n")
	if resp, _ := c.response("GET"); resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if got := <-seen; got != "203.0.113.7" {
		t.Errorf("X-Forwarded-For = %q, want the PROXY header's client", got)
	}
	// No header: refused, counted.
	c2 := dialProxy(t, h.addr)
	c2.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	if !c2.closed() {
		t.Error("a connection without a PROXY header was served")
	}
}

func TestRequestTooLarge(t *testing.T) {
	o := newOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
	}))
	h := startService(t, static{&Peer{Addr: o.addr}}, Config{MaxRequestBody: 10})
	for _, req := range []string{
		"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\n01234567890",
		"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n8\r\n01234567\r\n8\r\n01234567\r\n0\r\n\r\n",
	} {
		c := dialProxy(t, h.addr)
		c.send(req)
		if resp, _ := c.response("POST"); resp.StatusCode != 413 {
			t.Errorf("status %d, want 413", resp.StatusCode)
		}
		if !c.closed() {
			t.Error("connection left open")
		}
	}
	// At the bound is fine.
	c := dialProxy(t, h.addr)
	c.send("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n0123456789")
	if resp, _ := c.response("POST"); resp.StatusCode != 200 {
		t.Errorf("status %d, want 200", resp.StatusCode)
	}
}

// An upstream that dies mid-body: the client's response is cut off (its
// connection closed, so it cannot mistake it for a whole one) and the
// upstream connection is not pooled.
func TestUpstreamClosesMidBody(t *testing.T) {
	up := rawOrigin(t, func(c net.Conn) {
		r := bufio.NewReader(c)
		if _, err := http.ReadRequest(r); err != nil {
			return
		}
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly ten b")
	})
	h := startService(t, static{&Peer{Addr: up}}, Config{})
	c := dialProxy(t, h.addr)
	c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, err := http.ReadResponse(c.r, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	if err == nil || string(b) != "only ten b" {
		t.Errorf("body %q, %v: want the ten bytes, then an unexpected EOF", b, err)
	}
	if l := h.request(t); l["kind"] != "upstream_closed" {
		t.Errorf("logged %v", l)
	}
	if h.svc.pool.Idle() != 0 {
		t.Error("a connection that failed mid-body was pooled")
	}
}

func TestHeadAndHTTP10(t *testing.T) {
	o := newOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/stream" {
			io.WriteString(w, "part1")
			w.(http.Flusher).Flush() // chunked from the origin
			io.WriteString(w, "part2")
			return
		}
		w.Header().Set("Content-Length", "5")
		io.WriteString(w, "hello")
	}))
	h := startService(t, static{&Peer{Addr: o.addr}}, Config{})
	t.Run("HEAD keeps Content-Length, sends no body", func(t *testing.T) {
		c := dialProxy(t, h.addr)
		c.send("HEAD / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n")
		resp, body := c.response("HEAD")
		if resp.StatusCode != 200 || resp.ContentLength != 5 || body != "" {
			t.Errorf("HEAD: %d CL=%d %q", resp.StatusCode, resp.ContentLength, body)
		}
		if _, body := c.response("GET"); body != "hello" {
			t.Errorf("next GET %q", body)
		}
	})
	t.Run("1.0 client gets a chunked body delimited by close", func(t *testing.T) {
		c := dialProxy(t, h.addr)
		c.send("GET /stream HTTP/1.0\r\n\r\n")
		raw, err := io.ReadAll(c.r)
		if err != nil {
			t.Fatal(err)
		}
		s := string(raw)
		if !strings.HasSuffix(s, "\r\n\r\npart1part2") || strings.Contains(strings.ToLower(s), "transfer-encoding") {
			t.Errorf("response %q", s)
		}
	})
	t.Run("1.0 keep-alive", func(t *testing.T) {
		c := dialProxy(t, h.addr)
		for range 2 {
			c.send("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
			resp, body := c.response("GET")
			if body != "hello" || resp.Close {
				t.Fatalf("%q close=%v", body, resp.Close)
			}
		}
	})
}

func TestUpstreamHost(t *testing.T) {
	seen := make(chan string, 1)
	o := newOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen <- r.Host + " " + r.RequestURI
	}))
	h := startService(t, static{&Peer{Addr: o.addr}}, Config{})
	for _, tt := range []struct{ req, want string }{
		{"GET /a HTTP/1.1\r\nHost: site.example\r\n\r\n", "site.example /a"},
		{"GET http://other.example/b?c HTTP/1.1\r\nHost: site.example\r\n\r\n", "other.example /b?c"},
		{"GET /d HTTP/1.0\r\n\r\n", o.addr + " /d"},
	} {
		c := dialProxy(t, h.addr)
		c.send(tt.req)
		c.response("GET")
		if got := <-seen; got != tt.want {
			t.Errorf("upstream saw %q, want %q", got, tt.want)
		}
	}
}

// An upstream that answers before reading the request body (nginx's
// return, an early 413): the client gets that answer, then the connection
// is closed since the rest of its body is still on the wire.
func TestEarlyResponse(t *testing.T) {
	up := earlyOrigin(t)
	h := startService(t, static{&Peer{Addr: up}}, Config{})
	for _, tt := range []struct{ name, head string }{
		{"content-length", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1073741824\r\n\r\n"},
		{"chunked", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := dialProxy(t, h.addr)
			c.send(tt.head)
			sent := make(chan struct{})
			go func() { // the body (1 GiB, never finished), until the proxy stops taking it
				defer close(sent)
				chunk := bytes.Repeat([]byte("a"), 64<<10)
				for range 16384 {
					if tt.name == "chunked" {
						fmt.Fprintf(c.c, "%x\r\n", len(chunk))
					}
					if _, err := c.c.Write(chunk); err != nil {
						return
					}
					if tt.name == "chunked" {
						io.WriteString(c.c, "\r\n")
					}
				}
			}()
			resp, body := c.response("POST")
			if resp.StatusCode != 200 || body != "early" {
				t.Errorf("got %d %q", resp.StatusCode, body)
			}
			if !c.closed() {
				t.Error("connection left open with a body still coming")
			}
			c.c.Close()
			<-sent
		})
	}
}

// After an early answer, a body of bounded size is read and dropped, and
// the client connection carries its next request.
func TestEarlyResponseDrained(t *testing.T) {
	up := earlyOrigin(t)
	h := startService(t, static{&Peer{Addr: up}}, Config{})
	c := dialProxy(t, h.addr)
	c.send("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n")
	if resp, body := c.response("POST"); resp.StatusCode != 200 || body != "early" || resp.Close {
		t.Fatalf("got %d %q close=%v", resp.StatusCode, body, resp.Close)
	}
	c.send(strings.Repeat("b", 100000)) // the rest of the body, after the answer
	c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	if resp, body := c.response("GET"); resp.StatusCode != 200 || body != "early" {
		t.Fatalf("next request: %d %q", resp.StatusCode, body)
	}
}

// earlyOrigin answers "early" to each request head and never reads a body,
// holding the connection until the test ends.
func earlyOrigin(t *testing.T) string {
	t.Helper()
	release := make(chan struct{})
	addr := rawOrigin(t, func(c net.Conn) {
		if _, err := http.ReadRequest(bufio.NewReader(c)); err != nil {
			return
		}
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nearly")
		<-release
	})
	// Registered after rawOrigin's, so it runs first: the handlers end
	// before rawOrigin's cleanup waits for them.
	t.Cleanup(func() { close(release) })
	return addr
}
