package rawhttp

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"testing"
)

// startOrigin serves Response(size) on 127.0.0.1:0 until the test ends.
func startOrigin(t *testing.T, size int) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	o := NewOrigin(ln, Response(size))
	done := make(chan error, 1)
	go func() { done <- o.Serve() }()
	t.Cleanup(func() {
		if err := o.Close(); err != nil {
			t.Error(err)
		}
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return ln.Addr().String()
}

func TestClientOriginKeepAlive(t *testing.T) {
	for _, size := range []int{0, 1, 1024, 64 << 10} {
		addr := startOrigin(t, size)
		c, err := Dial(addr)
		if err != nil {
			t.Fatal(err)
		}
		for i := range 3 {
			status, n, err := c.Get()
			if err != nil || status != 200 || n != size {
				t.Fatalf("size %d, request %d: status %d, %d bytes, %v; want 200, %d bytes", size, i, status, n, err, size)
			}
		}
		c.Close()
	}
}

func TestOriginConnectionClose(t *testing.T) {
	addr := startOrigin(t, 10)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\nConnection: Close\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(c) // ends only if the origin closes after the first answer
	if err != nil {
		t.Fatal(err)
	}
	if want := Response(10); !bytes.Equal(got, want) {
		t.Fatalf("got %q, want one response %q", got, want)
	}
}

func TestOriginCloseEndsConnections(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	o := NewOrigin(ln, Response(1))
	done := make(chan error, 1)
	go func() { done <- o.Serve() }()
	c, err := Dial(ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, _, err := c.Get(); err != nil { // the connection is being served
		t.Fatal(err)
	}
	o.Close()
	if err := <-done; err != nil {
		t.Fatalf("Serve: %v", err)
	}
	if _, err := c.br.ReadByte(); err == nil {
		t.Fatal("connection still open after Close")
	}
}

// serveOnce answers the first request head on a fresh listener with raw,
// then closes the connection.
func serveOnce(t *testing.T, raw string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		if _, err := readHead(bufio.NewReader(c)); err != nil {
			return
		}
		io.WriteString(c, raw) // then close: a short body ends in EOF
	}()
	t.Cleanup(func() { ln.Close(); <-done })
	return ln.Addr().String()
}

func TestClientResponses(t *testing.T) {
	tests := []struct {
		name       string
		raw        string
		status, n  int
		err        error // errors.Is target; nil with wantErr means any error
		wantErr    bool
		closedNext bool
	}{
		{name: "length", raw: "HTTP/1.1 200 OK\r\ncontent-length: 3\r\n\r\nabc", status: 200, n: 3},
		{name: "no content", raw: "HTTP/1.1 204 No Content\r\n\r\n", status: 204},
		{name: "close", raw: "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nConnection: close\r\n\r\nx", status: 200, n: 1, closedNext: true},
		{name: "chunked", raw: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", err: ErrUnsupported, wantErr: true},
		{name: "no length", raw: "HTTP/1.1 200 OK\r\n\r\nabc", err: ErrUnsupported, wantErr: true},
		{name: "bad status line", raw: "HTTP/1.1 2x0 OK\r\n\r\n", wantErr: true},
		{name: "bad length", raw: "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", wantErr: true},
		{name: "short body", raw: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr := serveOnce(t, tt.raw)
			c, err := Dial(addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			status, n, err := c.Get()
			switch {
			case tt.wantErr:
				if err == nil {
					t.Fatalf("got status %d, %d bytes, no error", status, n)
				}
				if tt.err != nil && !errors.Is(err, tt.err) {
					t.Fatalf("error %v, want %v", err, tt.err)
				}
				if _, _, err := c.Get(); !errors.Is(err, net.ErrClosed) {
					t.Fatalf("Get after an error: %v, want net.ErrClosed", err)
				}
			case err != nil || status != tt.status || n != tt.n:
				t.Fatalf("got %d, %d bytes, %v; want %d, %d bytes", status, n, err, tt.status, tt.n)
			case tt.closedNext:
				if _, _, err := c.Get(); !errors.Is(err, net.ErrClosed) {
					t.Fatalf("Get after Connection: close: %v, want net.ErrClosed", err)
				}
			}
		})
	}
}
