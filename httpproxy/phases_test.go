package httpproxy

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluice-proxy/sluice/protocols/http1"
	"github.com/sluice-proxy/sluice/vstream"
)

// recorder implements every phase and records the order they ran in.
type recorder struct {
	peers []*Peer
	mu    sync.Mutex
	calls []string
	logs  chan *logged
}

type logged struct {
	status           int
	reqBody, resBody int64
	tries            int
	err              error
	ctx              any
	route            string
}

func (r *recorder) note(s string) {
	r.mu.Lock()
	r.calls = append(r.calls, s)
	r.mu.Unlock()
}

func (r *recorder) order() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.calls, " ")
}

func (r *recorder) NewCtx() any { r.note("ctx"); return new(int) }
func (r *recorder) EarlyRequestFilter(_ context.Context, s *Session) error {
	r.note("early")
	*s.Ctx.(*int) = 1
	return nil
}
func (r *recorder) RequestFilter(_ context.Context, s *Session) (bool, error) {
	r.note("request")
	if string(s.Request.Target) == "/deny" {
		return true, s.Respond(403, "text/plain", []byte("denied"))
	}
	s.Route = "main"
	return false, nil
}
func (r *recorder) UpstreamPeer(_ context.Context, s *Session) (*Peer, error) {
	r.note("peer")
	return r.peers[(s.Tries)%len(r.peers)], nil
}
func (r *recorder) FailToConnect(_ context.Context, s *Session, p *Peer, err error) error {
	r.note("failconnect")
	if !errors.Is(err, ErrConnect) {
		return fmt.Errorf("not a connect error: %w", err)
	}
	return Retryable(err)
}
func (r *recorder) ConnectedToUpstream(_ context.Context, s *Session, p *Peer, reused bool) error {
	r.note(fmt.Sprintf("connected(%v)", reused))
	return nil
}
func (r *recorder) UpstreamRequestFilter(_ context.Context, s *Session, req *http1.Request) error {
	r.note("uprequest")
	req.Header.Set("Host", "rewritten.test")
	req.Header.Set("X-Phase", "1")
	return nil
}
func (r *recorder) RequestBodyFilter(_ context.Context, s *Session, p []byte, end bool) ([]byte, error) {
	r.note(fmt.Sprintf("reqbody(%v)", end))
	return bytes.ToUpper(p), nil
}
func (r *recorder) UpstreamResponseFilter(_ context.Context, s *Session, resp *http1.Response) error {
	r.note("upresponse")
	resp.Header.Set("X-Up", "1")
	return nil
}
func (r *recorder) ResponseFilter(_ context.Context, s *Session, resp *http1.Response) error {
	r.note("response")
	resp.Header.Del("Content-Length") // the body filter changes the length
	resp.Header.Set("X-Down", "1")
	return nil
}
func (r *recorder) ResponseBodyFilter(_ context.Context, s *Session, p []byte, end bool) ([]byte, error) {
	r.note(fmt.Sprintf("resbody(%v)", end))
	if end {
		return append(p, "!"...), nil
	}
	return p, nil
}
func (r *recorder) Logging(_ context.Context, s *Session, err error) {
	r.note("logging")
	r.logs <- &logged{s.Status, s.RequestBodyBytes, s.ResponseBodyBytes, s.Tries, err, *s.Ctx.(*int), s.Route}
}

func TestPhases(t *testing.T) {
	type seenReq struct{ host, phase, body string }
	seen := make(chan seenReq, 1)
	o := newOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		seen <- seenReq{r.Host, r.Header.Get("X-Phase"), string(b)}
		io.WriteString(w, "reply")
	}))
	rec := &recorder{peers: []*Peer{{Addr: o.addr}}, logs: make(chan *logged, 4)}
	h := startService(t, rec, Config{})
	c := dialProxy(t, h.addr)
	c.send("POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello")
	resp, body := c.response("POST")
	if body != "reply!" || resp.Header.Get("X-Up") != "1" || resp.Header.Get("X-Down") != "1" {
		t.Errorf("response %v %q", resp.Header, body)
	}
	if got := <-seen; got != (seenReq{"rewritten.test", "1", "HELLO"}) {
		t.Errorf("upstream saw %+v", got)
	}
	l := <-rec.logs
	if l.status != 200 || l.reqBody != 5 || l.resBody != 6 || l.tries != 1 || l.err != nil || l.ctx != 1 || l.route != "main" {
		t.Errorf("logged %+v", l)
	}
	want := "ctx early request peer connected(false) uprequest reqbody(false) reqbody(true) upresponse response resbody(false) resbody(true) logging"
	if got := rec.order(); got != want {
		t.Errorf("phases ran as\n%s\nwant\n%s", got, want)
	}
	if v := h.metric(t, "sluice_http_requests_total", "route", "main", "code", "2xx"); v != 1 {
		t.Errorf("route metric = %v", v)
	}

	// A request the request filter answers never goes upstream.
	c.send("GET /deny HTTP/1.1\r\nHost: x\r\n\r\n")
	if resp, body := c.response("GET"); resp.StatusCode != 403 || body != "denied" {
		t.Errorf("deny: %d %q", resp.StatusCode, body)
	}
	if l := <-rec.logs; l.status != 403 || l.tries != 0 {
		t.Errorf("deny logged %+v", l)
	}
}

func TestFailover(t *testing.T) {
	dead := closedAddr(t)
	o := newOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "alive") }))
	t.Run("FailToConnect marks retryable", func(t *testing.T) {
		rec := &recorder{peers: []*Peer{{Addr: dead}, {Addr: o.addr}}, logs: make(chan *logged, 1)}
		h := startService(t, rec, Config{})
		c := dialProxy(t, h.addr)
		c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		if resp, body := c.response("GET"); resp.StatusCode != 200 || body != "alive!" {
			t.Fatalf("got %d %q", resp.StatusCode, body)
		}
		if l := <-rec.logs; l.tries != 2 || l.err != nil {
			t.Errorf("logged %+v", l)
		}
		if !strings.Contains(rec.order(), "peer failconnect peer connected(false)") {
			t.Errorf("phases: %s", rec.order())
		}
	})
	t.Run("default retries then 502", func(t *testing.T) {
		h := startService(t, static{&Peer{Addr: dead}}, Config{MaxRetries: 2})
		c := dialProxy(t, h.addr)
		c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		resp, body := c.response("GET")
		if resp.StatusCode != 502 || !strings.Contains(body, "could not connect") {
			t.Fatalf("got %d %q", resp.StatusCode, body)
		}
		if v := h.metric(t, "sluice_http_upstream_connect_errors_total"); v != 3 {
			t.Errorf("connect errors = %v, want 3 (1 try + 2 retries)", v)
		}
	})
}

// closedAddr returns a loopback address nobody listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func TestTimeouts(t *testing.T) {
	t.Run("slow client gets 408", func(t *testing.T) {
		h := startService(t, static{&Peer{Addr: closedAddr(t)}}, Config{Timeouts: Timeouts{HeaderRead: 50 * time.Millisecond}})
		c := dialProxy(t, h.addr)
		c.send("GET / HTTP/1.1\r\nHost: x\r\n") // never finished
		if resp, _ := c.response("GET"); resp.StatusCode != 408 {
			t.Errorf("status %d, want 408", resp.StatusCode)
		}
		if !c.closed() {
			t.Error("connection left open")
		}
		h.request(t)
		if v := h.metric(t, "sluice_http_errors_total", "kind", "header_timeout"); v != 1 {
			t.Errorf("header_timeout = %v", v)
		}
	})
	t.Run("idle client is closed quietly", func(t *testing.T) {
		h := startService(t, static{&Peer{Addr: closedAddr(t)}}, Config{Timeouts: Timeouts{HeaderRead: 50 * time.Millisecond}})
		c := dialProxy(t, h.addr)
		if !c.closed() {
			t.Error("connection left open")
		}
		if v := h.metric(t, "sluice_http_errors_total"); v != 0 {
			t.Errorf("errors = %v, want none", v)
		}
	})
	t.Run("connect timeout gets 504", func(t *testing.T) {
		hang := vstream.DialerFunc(func(ctx context.Context, addr string) (vstream.Stream, error) {
			<-ctx.Done()
			return nil, ctx.Err()
		})
		h := startService(t, static{&Peer{Addr: "nowhere", Dialer: hang, ConnectTimeout: 20 * time.Millisecond}}, Config{MaxRetries: -1})
		c := dialProxy(t, h.addr)
		c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		if resp, body := c.response("GET"); resp.StatusCode != 504 || !strings.Contains(body, "timed out") {
			t.Errorf("got %d %q, want 504", resp.StatusCode, body)
		}
	})
	t.Run("silent upstream gets 504", func(t *testing.T) {
		release := make(chan struct{})
		up := rawOrigin(t, func(c net.Conn) {
			select {
			case <-release:
			case <-time.After(safety):
			}
		})
		defer close(release)
		h := startService(t, static{&Peer{Addr: up, ReadTimeout: 20 * time.Millisecond}}, Config{})
		c := dialProxy(t, h.addr)
		c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		if resp, _ := c.response("GET"); resp.StatusCode != 504 {
			t.Errorf("got %d, want 504", resp.StatusCode)
		}
	})
}

// A pooled connection the upstream closed meanwhile is noticed (or the
// request is retried on a new one): the client never sees the failure.
func TestStalePooledConnection(t *testing.T) {
	var mu sync.Mutex
	var conns []net.Conn
	up := rawOrigin(t, func(c net.Conn) {
		mu.Lock()
		conns = append(conns, c)
		mu.Unlock()
		r := bufio.NewReader(c)
		for {
			req, err := http.ReadRequest(r)
			if err != nil {
				return
			}
			io.Copy(io.Discard, req.Body)
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		}
	})
	h := startService(t, static{&Peer{Addr: up}}, Config{MaxRetries: -1})
	send := func(req string) {
		t.Helper()
		c := dialProxy(t, h.addr)
		c.send(req)
		if resp, body := c.response("GET"); resp.StatusCode != 200 || body != "ok" {
			t.Fatalf("got %d %q", resp.StatusCode, body)
		}
	}
	drop := func(i int) {
		t.Helper()
		if h.svc.pool.Idle() != 1 {
			t.Fatalf("idle = %d, want 1", h.svc.pool.Idle())
		}
		mu.Lock()
		conns[i].Close() // the upstream drops the idle connection
		mu.Unlock()
	}
	send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	drop(0)
	// Without a body the request is tried on the pooled connection and,
	// when that fails before any response byte, again on a new one (even
	// with retries off: a stale pooled connection is not the peer's fault).
	send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	drop(1)
	// A streamed body could not be sent twice: the pooled connection is
	// probed first, found closed, and a new one is dialled.
	send("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n")
	mu.Lock()
	n := len(conns)
	mu.Unlock()
	if n != 3 {
		t.Errorf("upstream connections = %d, want 3", n)
	}
}

func TestServeStreamOverPipe(t *testing.T) {
	o := newOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "virtual") }))
	svc, err := New(static{&Peer{Addr: o.addr}}, Config{})
	if err != nil {
		t.Fatal(err)
	}
	a, b := vstream.Pipe()
	done := make(chan struct{})
	go func() {
		defer close(done)
		svc.ServeStream(context.Background(), b)
	}()
	io.WriteString(a, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(a), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	if string(body) != "virtual" {
		t.Errorf("body %q", body)
	}
	a.Close()
	<-done
	svc.Shutdown(context.Background())
}

func TestShutdownDrains(t *testing.T) {
	entered := make(chan struct{})
	release := make(chan struct{})
	o := newOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			close(entered)
			<-release
		}
		io.WriteString(w, "done")
	}))
	h := startService(t, static{&Peer{Addr: o.addr}}, Config{})
	idle := dialProxy(t, h.addr)
	idle.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	idle.response("GET")
	busy := dialProxy(t, h.addr)
	busy.send("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
	<-entered
	shut := make(chan error, 1)
	go func() { shut <- h.svc.Shutdown(context.Background()) }()
	if !idle.closed() {
		t.Error("idle connection not closed by Shutdown")
	}
	close(release)
	resp, body := busy.response("GET")
	if body != "done" || !resp.Close {
		t.Errorf("in-flight request: %q close=%v, want done with Connection: close", body, resp.Close)
	}
	if err := <-shut; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
}

// When the grace period ends, a request waiting on a silent upstream is cut
// off: Shutdown does not wait for the upstream's timeout.
func TestShutdownGraceEnds(t *testing.T) {
	entered := make(chan struct{})
	release := make(chan struct{})
	up := rawOrigin(t, func(c net.Conn) {
		close(entered)
		<-release
	})
	defer close(release)
	svc, err := New(static{&Peer{Addr: up}}, Config{})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- svc.Serve(context.Background(), ln) }()
	c := dialProxy(t, ln.Addr().String())
	c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	<-entered
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // no grace at all
	if err := svc.Shutdown(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Shutdown = %v, want context.Canceled", err)
	}
	if !c.closed() {
		t.Error("client connection left open")
	}
	if err := <-served; err != nil {
		t.Errorf("Serve: %v", err)
	}
}

// failPages writes its own error page and retries errors after connect.
type failPages struct {
	peers  []*Peer
	errors chan error
}

func (p *failPages) UpstreamPeer(_ context.Context, s *Session) (*Peer, error) {
	return p.peers[(s.Tries)%len(p.peers)], nil
}

func (p *failPages) ErrorWhileProxy(_ context.Context, s *Session, peer *Peer, err error) error {
	p.errors <- err
	if s.Tries < 2 {
		return Retryable(err)
	}
	return err
}

func (p *failPages) FailToProxy(_ context.Context, s *Session, err error) int {
	s.Respond(599, "text/plain", []byte("custom: "+kindLabel(err)))
	return 599
}

func TestErrorWhileProxyAndFailToProxy(t *testing.T) {
	bad := rawOrigin(t, func(c net.Conn) {
		r := bufio.NewReader(c)
		if _, err := http.ReadRequest(r); err == nil {
			io.WriteString(c, "NOT HTTP\r\n\r\n")
		}
	})
	good := newOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "second") }))
	t.Run("retryable after connect", func(t *testing.T) {
		p := &failPages{peers: []*Peer{{Addr: bad}, {Addr: good.addr}}, errors: make(chan error, 4)}
		h := startService(t, p, Config{})
		c := dialProxy(t, h.addr)
		c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		if resp, body := c.response("GET"); resp.StatusCode != 200 || body != "second" {
			t.Errorf("got %d %q", resp.StatusCode, body)
		}
		if err := <-p.errors; !errors.Is(err, ErrUpstreamProtocol) {
			t.Errorf("ErrorWhileProxy got %v", err)
		}
	})
	t.Run("custom error page", func(t *testing.T) {
		p := &failPages{peers: []*Peer{{Addr: bad}}, errors: make(chan error, 4)}
		h := startService(t, p, Config{})
		c := dialProxy(t, h.addr)
		c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		if resp, body := c.response("GET"); resp.StatusCode != 599 || body != "custom: upstream_protocol" {
			t.Errorf("got %d %q", resp.StatusCode, body)
		}
		if l := h.request(t); l["status"] != "599" || l["kind"] != "upstream_protocol" {
			t.Errorf("logged %v", l)
		}
	})
}
