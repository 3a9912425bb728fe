package transport

import (
	"context"
	"errors"
	"io"
	"net"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/sluice-proxy/sluice/vstream"
)

// emfileListener is a real TCP listener whose Accept reports EMFILE the
// first fails times, as accept(2) does when the process has no descriptor
// left.
type emfileListener struct {
	*net.TCPListener
	fails atomic.Int32
}

func (l *emfileListener) Accept() (net.Conn, error) {
	if l.fails.Add(-1) >= 0 {
		return nil, &net.OpError{Op: "accept", Net: "tcp", Err: syscall.EMFILE}
	}
	return l.TCPListener.Accept()
}

// TestServerShedsQueuedClientOnEMFILE: when accept fails for lack of
// descriptors, a client waiting in the listen queue is closed at once
// (it reads EOF, never hangs until its own timeout), the accept error is
// still reported, and once descriptors are back the next client is served.
func TestServerShedsQueuedClientOnEMFILE(t *testing.T) {
	tl, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	ln := &emfileListener{TCPListener: tl}
	ln.fails.Store(1) // the shortage: one accept, while the client is queued
	// Queued before the Server accepts anything (the kernel completes the
	// handshake for the listen queue).
	c, err := net.Dial("tcp", tl.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var hooked atomic.Int32
	s := &Server{
		Name:          "shed",
		Listener:      ln,
		OnAcceptError: func(err error) { hooked.Add(1) },
		Handler: func(ctx context.Context, c net.Conn, d *vstream.Digest, release func()) {
			defer release()
			defer c.Close()
			c.Write([]byte("served"))
		},
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(context.Background()) }()

	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	n, err := c.Read(make([]byte, 16))
	if n != 0 || !(errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET)) {
		t.Fatalf("queued client during the shortage: read %d, %v; want it closed at once", n, err)
	}
	if hooked.Load() != 1 {
		t.Fatalf("OnAcceptError called %d times, want once (the EMFILE)", hooked.Load())
	}

	c2, err := net.Dial("tcp", tl.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	c2.SetReadDeadline(time.Now().Add(10 * time.Second))
	got, err := io.ReadAll(c2)
	if string(got) != "served" {
		t.Fatalf("client after the shortage got %q, %v", got, err)
	}
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("Serve = %v", err)
	}
}

// TestSpareShedLeavesEmptyQueue: with nobody queued, shed returns at once
// and reports nothing shed; errors other than a lack of descriptors shed
// nothing.
func TestSpareShedLeavesEmptyQueue(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	sp := openSpare()
	defer sp.close()
	if sp.fd < 0 {
		t.Fatal("no spare descriptor")
	}
	if sp.shed(ln, syscall.EMFILE) {
		t.Fatal("shed a connection from an empty queue")
	}
	if sp.fd < 0 {
		t.Fatal("spare descriptor not reopened")
	}
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if sp.shed(ln, syscall.ECONNABORTED) {
		t.Fatal("shed on ECONNABORTED")
	}
	// The client is still queued: a real Accept gets it.
	a, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	a.Close()
}
