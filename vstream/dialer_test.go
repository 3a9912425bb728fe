package vstream

import (
	"context"
	"errors"
	"io"
	"net"
	"testing"
)

// dialFunc has lb.DialFunc's shape; DialFunc's result must be assignable
// to such a named type without conversion.
type dialFunc func(ctx context.Context, addr string) (net.Conn, error)

func TestDialFuncAdapter(t *testing.T) {
	var gotAddr string
	d := DialerFunc(func(ctx context.Context, addr string) (Stream, error) {
		gotAddr = addr
		if addr == "bad" {
			return nil, errors.New("no such service")
		}
		a, b := Pipe()
		go func() {
			io.Copy(b, b) // echo
			b.Close()
		}()
		return a, nil
	})
	var dial dialFunc = DialFunc(d)
	c, err := dial(context.Background(), "echo")
	if err != nil || gotAddr != "echo" {
		t.Fatalf("dial = %v, addr %q", err, gotAddr)
	}
	c.Write([]byte("ping"))
	c.(Stream).CloseWrite()
	if b, err := io.ReadAll(c); err != nil || string(b) != "ping" {
		t.Fatalf("echo = %q, %v", b, err)
	}
	c.Close()
	if c, err := dial(context.Background(), "bad"); err == nil || c != nil {
		t.Fatalf("failing dial = %v, %v; want nil conn and error", c, err)
	}
}

func TestFromDialFunc(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err == nil {
			c.Close()
		}
	}()
	var nd net.Dialer
	d := FromDialFunc(func(ctx context.Context, addr string) (net.Conn, error) {
		return nd.DialContext(ctx, "tcp", addr)
	})
	s, err := d.DialStream(context.Background(), ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := s.(*net.TCPConn); !ok {
		t.Fatalf("got %T, want the *net.TCPConn itself", s)
	}
	s.Close()

	// A conn that cannot half-close is refused, and closed.
	a, b := net.Pipe()
	defer b.Close()
	d = FromDialFunc(func(context.Context, string) (net.Conn, error) { return a, nil })
	if _, err := d.DialStream(context.Background(), "x"); err == nil {
		t.Fatal("net.Pipe accepted as a Stream")
	}
	if _, err := a.Write([]byte("x")); !errors.Is(err, io.ErrClosedPipe) {
		t.Fatalf("refused conn not closed: %v", err)
	}
}

// TestListenerDialStream serves an in-process echo service on a Listener and
// reaches it through the Listener's Dialer side.
func TestListenerDialStream(t *testing.T) {
	l := NewListener(Addr{Net: "vstream", Name: "echo-svc"}, 0)
	served := make(chan struct{})
	go func() {
		defer close(served)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			if c.LocalAddr().String() != "echo-svc" {
				t.Errorf("served end LocalAddr %v", c.LocalAddr())
			}
			go func() {
				io.Copy(c, c)
				c.Close()
			}()
		}
	}()
	var d Dialer = l
	for _, msg := range []string{"one", "two"} {
		s, err := d.DialStream(context.Background(), "echo")
		if err != nil {
			t.Fatal(err)
		}
		if s.RemoteAddr().String() != "echo" {
			t.Errorf("RemoteAddr %v", s.RemoteAddr())
		}
		s.Write([]byte(msg))
		s.CloseWrite()
		if b, err := io.ReadAll(s); err != nil || string(b) != msg {
			t.Fatalf("echo = %q, %v", b, err)
		}
		s.Close()
	}
	l.Close()
	<-served
	if _, err := d.DialStream(context.Background(), "echo"); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("dial to a closed listener = %v", err)
	}
}
