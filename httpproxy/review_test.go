package httpproxy

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// A connection aborted while its last write to a stalled client blocks has
// already pooled its upstream connection; the abort must not close it
// under the next request that took it (which would then be sent twice).
func TestAbortSparesPooledConnection(t *testing.T) {
	var posts atomic.Int64
	posted := make(chan struct{})
	release := make(chan struct{})
	var once sync.Once
	o := newOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		if r.Method == "POST" {
			posts.Add(1)
			once.Do(func() { close(posted) })
			<-release
		}
		io.WriteString(w, "ok")
	}))
	svc, err := New(static{&Peer{Addr: o.addr}}, Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer svc.pool.Close()
	pooled := make(chan struct{}, 1)
	svc.pool.putHook = func() {
		select {
		case pooled <- struct{}{}:
		default:
		}
	}

	// A sends a GET and never reads: its last write blocks on the pipe,
	// after its upstream connection went back to the pool.
	ctxA, cancelA := context.WithCancel(context.Background())
	aCli, aSrv := net.Pipe()
	defer aCli.Close()
	aDone := make(chan struct{})
	go func() {
		defer close(aDone)
		svc.ServeStream(ctxA, aSrv)
	}()
	io.WriteString(aCli, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	<-pooled

	// B's POST takes that connection and is at the origin.
	bCli, bSrv := net.Pipe()
	defer bCli.Close()
	go svc.ServeStream(context.Background(), bSrv)
	go io.WriteString(bCli, "POST /pay HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc")
	<-posted

	cancelA() // A's abort
	<-aDone
	close(release)
	bCli.SetDeadline(time.Now().Add(safety))
	resp, err := http.ReadResponse(bufio.NewReader(bCli), nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != 200 || posts.Load() != 1 {
		t.Errorf("B: status %d, POSTs at the upstream %d; want 200 and 1", resp.StatusCode, posts.Load())
	}
}

// A request that is not idempotent is never sent again after the
// upstream may have acted on it, even on a reused connection.
func TestNoRetryOfNonIdempotent(t *testing.T) {
	var posts, conns atomic.Int64
	up := rawOrigin(t, func(c net.Conn) {
		n := conns.Add(1)
		br := bufio.NewReader(c)
		for {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			io.Copy(io.Discard, req.Body)
			if req.Method == "POST" {
				posts.Add(1)
				if n == 1 { // acts on it, then dies without answering
					return
				}
			}
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		}
	})
	h := startService(t, static{&Peer{Addr: up}}, Config{})
	c := dialProxy(t, h.addr)
	c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	c.response("GET")
	c.send("POST /pay HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc")
	if resp, _ := c.response("POST"); resp.StatusCode != 502 {
		t.Errorf("status %d, want 502", resp.StatusCode)
	}
	if n := posts.Load(); n != 1 {
		t.Errorf("the POST reached the upstream %d times", n)
	}
}

// A final answer to Expect: 100-continue without a 100 ends the
// connection: the client may skip its body, so what follows could not be
// told from it.
func TestExpectContinueRefused(t *testing.T) {
	up := rawOrigin(t, func(c net.Conn) {
		if _, err := http.ReadRequest(bufio.NewReader(c)); err != nil {
			return
		}
		io.WriteString(c, "HTTP/1.1 417 Expectation Failed\r\nContent-Length: 0\r\n\r\n")
		io.Copy(io.Discard, c)
	})
	h := startService(t, static{&Peer{Addr: up}}, Config{})
	c := dialProxy(t, h.addr)
	c.send("POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 1000\r\n\r\n")
	resp, _ := c.response("POST")
	if resp.StatusCode != 417 || !resp.Close {
		t.Errorf("got %d close=%v, want 417 with Connection: close", resp.StatusCode, resp.Close)
	}
	if !c.closed() {
		t.Error("connection left open")
	}
}

// Shutdown out of time ends a ServeStream connection waiting on a silent
// upstream at once, and does not send its request again.
func TestShutdownEndsServeStream(t *testing.T) {
	var slow atomic.Int64
	entered := make(chan struct{}, 4)
	release := make(chan struct{})
	defer close(release)
	o := newOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			slow.Add(1)
			entered <- struct{}{}
			<-release
		}
		io.WriteString(w, "ok")
	}))
	svc, err := New(static{&Peer{Addr: o.addr}}, Config{})
	if err != nil {
		t.Fatal(err)
	}
	cli, srv := net.Pipe()
	defer cli.Close()
	go svc.ServeStream(context.Background(), srv)
	br := bufio.NewReader(cli)
	io.WriteString(cli, "GET / HTTP/1.1\r\nHost: x\r\n\r\n") // pools a connection
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	go io.WriteString(cli, "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
	<-entered
	go io.Copy(io.Discard, br)
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // no grace at all
	done := make(chan error, 1)
	go func() { done <- svc.Shutdown(ctx) }()
	select {
	case err := <-done:
		if err == nil {
			t.Error("Shutdown out of time returned nil")
		}
	case <-time.After(safety):
		t.Fatal("Shutdown waited for the upstream")
	}
	if n := slow.Load(); n != 1 {
		t.Errorf("/slow reached the upstream %d times", n)
	}
}
