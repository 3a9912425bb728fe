package vstream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"testing"
	"time"
)

func TestListenerDeliverAccept(t *testing.T) {
	l := NewListener(nil, 0)
	defer l.Close()
	if l.Addr().Network() != "vstream" {
		t.Fatalf("default Addr %v", l.Addr())
	}
	a, b := Pipe()
	defer a.Close()
	errc := make(chan error, 1)
	go func() { errc <- l.Deliver(context.Background(), b) }()
	c, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	if c != b {
		t.Fatalf("Accept returned %v, want the delivered stream", c)
	}
	if err := <-errc; err != nil {
		t.Fatalf("Deliver = %v", err)
	}
	c.Close()
}

// TestListenerBackpressure checks Deliver blocks once backlog streams
// wait, and resumes as Accept takes them.
func TestListenerBackpressure(t *testing.T) {
	for _, backlog := range []int{0, 1, 3} {
		t.Run(fmt.Sprint("backlog", backlog), func(t *testing.T) {
			l := NewListener(Addr{Net: "vstream", Name: "bp"}, backlog)
			defer l.Close()
			var streams []Stream
			for range backlog {
				_, s := Pipe()
				streams = append(streams, s)
				if err := l.Deliver(context.Background(), s); err != nil {
					t.Fatalf("Deliver within the backlog: %v", err)
				}
			}
			// The queue is full: the next Deliver waits until its
			// context ends, and leaves the stream with the caller.
			_, extra := Pipe()
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
			defer cancel()
			if err := l.Deliver(ctx, extra); !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Deliver to a full listener = %v, want DeadlineExceeded", err)
			}
			// It goes through as soon as an Accept makes room.
			errc := make(chan error, 1)
			go func() { errc <- l.Deliver(context.Background(), extra) }()
			streams = append(streams, extra)
			for i, want := range streams {
				got, err := l.Accept()
				if err != nil || got != want {
					t.Fatalf("Accept %d = %v, %v; want streams in delivery order", i, got, err)
				}
			}
			if err := <-errc; err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestListenerClose(t *testing.T) {
	l := NewListener(nil, 2)
	peer, queued := Pipe()
	if err := l.Deliver(context.Background(), queued); err != nil {
		t.Fatal(err)
	}
	// An Accept and a Deliver waiting when Close comes both fail.
	l2 := NewListener(nil, 0)
	acceptErr := make(chan error, 1)
	go func() { _, err := l2.Accept(); acceptErr <- err }()
	_, waiting := Pipe()
	full := NewListener(nil, 0)
	deliverErr := make(chan error, 1)
	go func() { deliverErr <- full.Deliver(context.Background(), waiting) }()

	for _, ln := range []*Listener{l, l2, full} {
		if err := ln.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if err := <-acceptErr; !errors.Is(err, net.ErrClosed) {
		t.Fatalf("pending Accept = %v, want net.ErrClosed", err)
	}
	if err := <-deliverErr; !errors.Is(err, net.ErrClosed) {
		t.Fatalf("pending Deliver = %v, want net.ErrClosed", err)
	}
	waiting.Close() // Deliver failed: still ours
	if _, err := l.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Accept after Close = %v", err)
	}
	_, s := Pipe()
	if err := l.Deliver(context.Background(), s); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Deliver after Close = %v", err)
	}
	s.Close()
	if err := l.Close(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("second Close = %v", err)
	}
	select {
	case <-l.Done():
	default:
		t.Fatal("Done not closed")
	}
	// The stream that was queued was closed by the listener: its peer
	// reads EOF.
	if b, err := io.ReadAll(peer); err != nil || len(b) != 0 {
		t.Fatalf("peer of a queued stream read %q, %v; want EOF", b, err)
	}
}

// TestListenerCloseRace delivers and closes at once many times: every
// delivered stream must be either accepted or closed, never dropped open.
func TestListenerCloseRace(t *testing.T) {
	for range 200 {
		l := NewListener(nil, 1)
		peer, s := Pipe()
		errc := make(chan error, 1)
		go func() { errc <- l.Deliver(context.Background(), s) }()
		accepted := make(chan net.Conn, 1)
		go func() {
			c, _ := l.Accept()
			accepted <- c
		}()
		l.Close()
		err := <-errc
		c := <-accepted
		switch {
		case err != nil:
			s.Close() // ours again
		case c != nil:
			c.Close() // accepted: the acceptor's
		}
		// Either way the peer sees the stream closed; with neither it
		// would block here.
		peer.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, rerr := io.ReadAll(peer); rerr != nil {
			t.Fatalf("stream left open (Deliver %v, accepted %v): %v", err, c != nil, rerr)
		}
	}
}
