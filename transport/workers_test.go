package transport

import (
	"context"
	"io"
	"net"
	"testing"
	"time"

	"github.com/sluice-proxy/sluice/vstream"
)

func TestWorkersHandToParked(t *testing.T) {
	var ws workers
	if ws.hand(connJob{}) {
		t.Fatal("hand succeeded with no parked worker")
	}
	w := &worker{jobs: make(chan connJob, 1)}
	if !ws.park(w) {
		t.Fatal("park refused on an open pool")
	}
	c1, c2 := net.Pipe()
	defer c1.Close()
	defer c2.Close()
	if !ws.hand(connJob{ctx: context.Background(), c: c1}) {
		t.Fatal("hand found no parked worker")
	}
	if j := <-w.jobs; j.c != c1 {
		t.Fatalf("worker got %v, want the handed connection", j.c)
	}
	if ws.hand(connJob{}) {
		t.Fatal("a worker was handed two connections")
	}
	ws.close()
}

func TestWorkersCloseEndsParked(t *testing.T) {
	var ws workers
	w := &worker{jobs: make(chan connJob, 1)}
	ws.park(w)
	ws.close()
	if _, ok := <-w.jobs; ok {
		t.Fatal("parked worker's channel still open after close")
	}
	if ws.park(&worker{jobs: make(chan connJob, 1)}) {
		t.Fatal("park accepted a worker after close")
	}
}

func TestWorkersBounded(t *testing.T) {
	var ws workers
	defer ws.close()
	for i := 0; i < maxIdleWorkers; i++ {
		if !ws.park(&worker{jobs: make(chan connJob, 1)}) {
			t.Fatalf("park %d refused below the bound", i)
		}
	}
	if ws.park(&worker{jobs: make(chan connJob, 1)}) {
		t.Fatal("park accepted a worker past maxIdleWorkers")
	}
}

func TestWorkersSweepEndsOldOnly(t *testing.T) {
	var ws workers
	defer ws.close()
	old, fresh := &worker{jobs: make(chan connJob, 1)}, &worker{jobs: make(chan connJob, 1)}
	ws.park(old)
	ws.park(fresh)
	ws.mu.Lock()
	old.since = time.Now().Add(-2 * workerIdle)
	ws.mu.Unlock()
	ws.sweep()
	if _, ok := <-old.jobs; ok {
		t.Fatal("a worker parked past workerIdle was not ended")
	}
	select {
	case <-fresh.jobs:
		t.Fatal("a recently parked worker was ended")
	default:
	}
	if !ws.hand(connJob{}) {
		t.Fatal("the recent worker is no longer parked")
	}
}

// TestServerServesSequentialConns serves connections one after another,
// the later ones on kept workers, and checks each is served and Shutdown
// ends.
func TestServerServesSequentialConns(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{Listener: ln, Handler: func(ctx context.Context, c net.Conn, d *vstream.Digest, release func()) {
		defer release()
		defer c.Close()
		c.Write([]byte{'k'})
	}}
	done := make(chan error, 1)
	go func() { done <- s.Serve(context.Background()) }()
	for i := 0; i < 5; i++ {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(c)
		c.Close()
		if err != nil || string(b) != "k" {
			t.Fatalf("conn %d: read %q, %v", i, b, err)
		}
	}
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
