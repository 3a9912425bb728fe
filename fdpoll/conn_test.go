//go:build linux

package fdpoll_test

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/nettest"

	"github.com/sluice-proxy/sluice/fdpoll"
)

// newPoller starts a Poller closed at the end of the test.
func newPoller(t testing.TB) *fdpoll.Poller {
	t.Helper()
	p, err := fdpoll.New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// tcpPair returns both ends of a loopback TCP connection.
func tcpPair(t testing.TB) (*net.TCPConn, *net.TCPConn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	type res struct {
		c   net.Conn
		err error
	}
	ch := make(chan res, 1)
	go func() {
		c, err := ln.Accept()
		ch <- res{c, err}
	}()
	d, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	r := <-ch
	if r.err != nil {
		t.Fatal(r.err)
	}
	return d.(*net.TCPConn), r.c.(*net.TCPConn)
}

// wrappedPair returns a loopback TCP connection with both ends served by p.
func wrappedPair(t testing.TB, p *fdpoll.Poller) (*fdpoll.Conn, *fdpoll.Conn) {
	t.Helper()
	a, b := tcpPair(t)
	wa, err := p.Wrap(a)
	if err != nil {
		t.Fatal(err)
	}
	wb, err := p.Wrap(b)
	if err != nil {
		t.Fatal(err)
	}
	return wa, wb
}

func TestConnNettest(t *testing.T) {
	p := newPoller(t)
	nettest.TestConn(t, func() (c1, c2 net.Conn, stop func(), err error) {
		a, b := wrappedPair(t, p)
		return a, b, func() { a.Close(); b.Close() }, nil
	})
}

// TestConnMixed checks a wrapped end against a plain *net.TCPConn peer.
func TestConnMixed(t *testing.T) {
	p := newPoller(t)
	nettest.TestConn(t, func() (c1, c2 net.Conn, stop func(), err error) {
		a, b := tcpPair(t)
		wa, err := p.Wrap(a)
		if err != nil {
			return nil, nil, nil, err
		}
		return wa, b, func() { wa.Close(); b.Close() }, nil
	})
}

// TestEOFAfterShortRead is the case that makes skipping the EAGAIN read
// unsafe with Go's netpoller: data and the FIN arrive together, the read
// returns less than asked, and the end of stream must still be seen.
func TestEOFAfterShortRead(t *testing.T) {
	p := newPoller(t)
	for i := 0; i < 200; i++ {
		a, b := wrappedPair(t, p)
		msg := []byte("hello, half-close")
		if _, err := a.Write(msg); err != nil {
			t.Fatal(err)
		}
		if err := a.CloseWrite(); err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(b) // small reads first, then EOF
		if err != nil {
			t.Fatalf("round %d: %v", i, err)
		}
		if !bytes.Equal(got, msg) {
			t.Fatalf("round %d: got %q", i, got)
		}
		// The other direction still works after the half-close.
		if _, err := b.Write([]byte("bye")); err != nil {
			t.Fatal(err)
		}
		b.CloseWrite()
		got, err = io.ReadAll(a)
		if err != nil || string(got) != "bye" {
			t.Fatalf("round %d: reverse got %q, %v", i, got, err)
		}
		a.Close()
		b.Close()
	}
}

// TestPingPongMany runs many request/response exchanges over many
// connections at once: every wake-up must reach its reader.
func TestPingPongMany(t *testing.T) {
	p := newPoller(t)
	const conns, rounds = 32, 300
	var wg sync.WaitGroup
	errc := make(chan error, conns)
	for i := 0; i < conns; i++ {
		a, b := wrappedPair(t, p)
		wg.Add(2)
		go func() { // echo
			defer wg.Done()
			defer b.Close()
			buf := make([]byte, 64)
			for {
				n, err := b.Read(buf)
				if err != nil {
					if !errors.Is(err, io.EOF) {
						errc <- err
					}
					return
				}
				if _, err := b.Write(buf[:n]); err != nil {
					errc <- err
					return
				}
			}
		}()
		go func() {
			defer wg.Done()
			defer a.Close()
			msg := bytes.Repeat([]byte{'x'}, 64)
			buf := make([]byte, 64)
			for r := 0; r < rounds; r++ {
				if _, err := a.Write(msg); err != nil {
					errc <- err
					return
				}
				if _, err := io.ReadFull(a, buf); err != nil {
					errc <- err
					return
				}
			}
			a.CloseWrite()
			if _, err := a.Read(buf); !errors.Is(err, io.EOF) {
				errc <- err
			}
		}()
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Error(err)
	}
}

// TestBulkBothWays moves more than the socket buffers hold each way at once,
// so writers wait for EPOLLOUT edges.
func TestBulkBothWays(t *testing.T) {
	p := newPoller(t)
	a, b := wrappedPair(t, p)
	defer a.Close()
	defer b.Close()
	const size = 16 << 20
	send := func(c *fdpoll.Conn, errc chan<- error) {
		buf := bytes.Repeat([]byte{'y'}, 1<<20)
		for sent := 0; sent < size; sent += len(buf) {
			if _, err := c.Write(buf); err != nil {
				errc <- err
				return
			}
		}
		errc <- c.CloseWrite()
	}
	recv := func(c *fdpoll.Conn, got chan<- int64) {
		n, _ := io.Copy(io.Discard, c)
		got <- n
	}
	errc := make(chan error, 2)
	got := make(chan int64, 2)
	go send(a, errc)
	go send(b, errc)
	go recv(a, got)
	go recv(b, got)
	for i := 0; i < 2; i++ {
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
		if n := <-got; n != size {
			t.Fatalf("received %d bytes, want %d", n, size)
		}
	}
}

// TestCloseWakesReader checks that Close ends a read parked in the Poller.
func TestCloseWakesReader(t *testing.T) {
	p := newPoller(t)
	a, b := wrappedPair(t, p)
	defer b.Close()
	done := make(chan error, 1)
	go func() {
		_, err := a.Read(make([]byte, 10))
		done <- err
	}()
	// Make sure the reader has parked: a deadline in the past wakes it,
	// a later Close must too. Synchronise on the first wake-up.
	a.SetReadDeadline(time.Now().Add(-time.Second))
	if err := <-done; !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read after past deadline: %v", err)
	}
	a.SetReadDeadline(time.Time{})
	go func() {
		_, err := a.Read(make([]byte, 10))
		done <- err
	}()
	a.Close()
	if err := <-done; !errors.Is(err, net.ErrClosed) {
		t.Fatalf("read after Close: %v", err)
	}
}

func TestWrapRefusesOthers(t *testing.T) {
	p := newPoller(t)
	c1, c2 := net.Pipe()
	defer c1.Close()
	defer c2.Close()
	if _, err := p.Wrap(c1); !errors.Is(err, fdpoll.ErrNotSocket) {
		t.Fatalf("Wrap(net.Pipe) = %v, want ErrNotSocket", err)
	}
}

// TestPollerCloseEndsConns checks that closing the Poller ends a read
// parked on one of its Conns instead of leaving it waiting for ever.
func TestPollerCloseEndsConns(t *testing.T) {
	p, err := fdpoll.New()
	if err != nil {
		t.Fatal(err)
	}
	a, b := wrappedPair(t, p)
	defer a.Close()
	defer b.Close()
	done := make(chan error, 1)
	go func() {
		_, err := a.Read(make([]byte, 10))
		done <- err
	}()
	p.Close()
	if err := <-done; !errors.Is(err, net.ErrClosed) {
		t.Fatalf("read after Poller.Close: %v", err)
	}
	if _, err := b.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("write after Poller.Close: %v", err)
	}
}

// TestRoundTripAllocatesNothing checks that a request and its echo over
// wrapped sockets allocate nothing once running.
func TestRoundTripAllocatesNothing(t *testing.T) {
	p := newPoller(t)
	a, b := wrappedPair(t, p)
	defer a.Close()
	defer b.Close()
	go func() {
		buf := make([]byte, 64)
		for {
			if _, err := io.ReadFull(b, buf); err != nil {
				return
			}
			if _, err := b.Write(buf); err != nil {
				return
			}
		}
	}()
	msg, buf := make([]byte, 64), make([]byte, 64)
	roundTrip := func() {
		if _, err := a.Write(msg); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(a, buf); err != nil {
			t.Fatal(err)
		}
	}
	roundTrip()
	if n := testing.AllocsPerRun(200, roundTrip); n != 0 {
		t.Fatalf("%v allocations per round trip", n)
	}
}

// TestStressDeadlinesAndCloses runs many connections at once whose readers
// keep moving their deadlines (some pass while parked, as leader or
// follower) and some of which are closed mid-exchange. Every goroutine
// must come back: a lost wake-up hangs the test.
func TestStressDeadlinesAndCloses(t *testing.T) {
	p := newPoller(t)
	const conns, rounds = 48, 200
	var wg sync.WaitGroup
	for i := 0; i < conns; i++ {
		a, b := wrappedPair(t, p)
		wg.Add(2)
		go func() { // echo, with a read deadline moved on every read
			defer wg.Done()
			defer b.Close()
			buf := make([]byte, 64)
			for {
				b.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
				n, err := b.Read(buf)
				if errors.Is(err, os.ErrDeadlineExceeded) {
					continue
				}
				if err != nil {
					return
				}
				if _, err := b.Write(buf[:n]); err != nil {
					return
				}
			}
		}()
		go func(i int) {
			defer wg.Done()
			defer a.Close()
			buf := make([]byte, 64)
			for r := 0; r < rounds; r++ {
				if i%7 == 0 && r == rounds/2 {
					return // closes mid-way; the echo sees EOF
				}
				if r%5 == 0 {
					// A deadline that passes while this reader waits.
					a.SetReadDeadline(time.Now().Add(time.Millisecond))
					if _, err := a.Read(buf); !errors.Is(err, os.ErrDeadlineExceeded) {
						t.Errorf("read with nothing sent: %v", err)
						return
					}
					a.SetReadDeadline(time.Time{})
				}
				if _, err := a.Write(buf[:16]); err != nil {
					t.Error(err)
					return
				}
				if _, err := io.ReadFull(a, buf[:16]); err != nil {
					t.Error(err)
					return
				}
			}
		}(i)
	}
	wg.Wait()
}
