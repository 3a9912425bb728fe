package http1

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"testing/iotest"
)

// pipelined is three requests a client sends in one write.
const pipelined = "GET /1 HTTP/1.1\r\nHost: a\r\n\r\n" +
	"POST /2 HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\nbody" +
	"POST /3 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n3\r\nabc\r\n0\r\n\r\n"

// serveEcho answers each request on c with a response whose body is the
// request's target and body, until a request asks to close.
func serveEcho(c net.Conn, errc chan<- error) {
	defer c.Close()
	rd := NewReader(c, Limits{})
	var req Request
	var out []byte
	for {
		if err := rd.ReadRequest(&req); err != nil {
			errc <- err
			return
		}
		body, err := io.ReadAll(rd.Body(req.Framing, req.ContentLength))
		if err != nil {
			errc <- err
			return
		}
		payload := append(append([]byte(nil), req.Target...), body...)
		var resp Response
		resp.Version, resp.Status, resp.Reason = 11, 200, []byte("OK")
		resp.Header.Add("Content-Length", fmt.Sprint(len(payload)))
		if !req.KeepAlive {
			resp.Header.Add("Connection", "close")
		}
		out = resp.AppendHead(out[:0])
		out = append(out, payload...)
		if _, err := c.Write(out); err != nil {
			errc <- err
			return
		}
		if !req.KeepAlive {
			errc <- nil
			return
		}
	}
}

// TestPipelinedTCP sends three pipelined requests over loopback TCP in one
// write; the server reads them with one Reader and the client reads the
// three responses with another.
func TestPipelinedTCP(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	errc := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			errc <- err
			return
		}
		serveEcho(c, errc)
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, pipelined); err != nil {
		t.Fatal(err)
	}
	rd := NewReader(c, Limits{})
	var resp Response
	for _, want := range []string{"/1", "/2body", "/3abc"} {
		if err := rd.ReadResponse(&resp, []byte("GET")); err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(rd.Body(resp.Framing, resp.ContentLength))
		if err != nil || string(body) != want {
			t.Fatalf("response body %q %v, want %q", body, err, want)
		}
	}
	if resp.KeepAlive {
		t.Error("last response keeps the connection alive")
	}
	if err := rd.ReadResponse(&resp, nil); err != io.EOF {
		t.Errorf("after the last response: %v, want io.EOF", err)
	}
	if err := <-errc; err != nil {
		t.Fatalf("server: %v", err)
	}
}

// TestPipelinedPipe reads the pipelined requests over net.Pipe, which hands
// over at most what each Read asks for.
func TestPipelinedPipe(t *testing.T) {
	srv, cli := net.Pipe()
	defer cli.Close()
	errc := make(chan error, 1)
	go serveEcho(srv, errc)
	werr := make(chan error, 1)
	go func() { _, err := io.WriteString(cli, pipelined); werr <- err }()
	rd := NewReader(cli, Limits{})
	var resp Response
	for _, want := range []string{"/1", "/2body", "/3abc"} {
		if err := rd.ReadResponse(&resp, []byte("GET")); err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(rd.Body(resp.Framing, resp.ContentLength))
		if err != nil || string(body) != want {
			t.Fatalf("response body %q %v, want %q", body, err, want)
		}
	}
	if err := <-werr; err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatalf("server: %v", err)
	}
}

// TestDetach checks the bytes after a 101 head come out of Detach and the
// Reader is empty afterwards.
func TestDetach(t *testing.T) {
	in := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n\x81\x05hello"
	rd := NewReader(memReader(in), Limits{})
	var resp Response
	if err := rd.ReadResponse(&resp, []byte("GET")); err != nil {
		t.Fatal(err)
	}
	if resp.Status != 101 || resp.Framing != NoBody {
		t.Fatalf("%d %v", resp.Status, resp.Framing)
	}
	tail := rd.Detach()
	if string(tail) != "\x81\x05hello" {
		t.Fatalf("Detach = %q", tail)
	}
	if rd.Buffered() != 0 || rd.Detach() != nil {
		t.Fatal("Reader not empty after Detach")
	}
	// The copy is the caller's: reusing the Reader does not change it.
	rd.Reset(strings.NewReader("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"))
	if err := rd.ReadResponse(&resp, []byte("GET")); err != nil {
		t.Fatal(err)
	}
	if string(tail) != "\x81\x05hello" {
		t.Fatalf("detached bytes changed to %q", tail)
	}
}

// memReader returns a reader of s that serves everything in one read.
func memReader(s string) io.Reader { return bytes.NewReader([]byte(s)) }

// TestBufferedMidHead checks Buffered tells a head cut short from an idle
// connection, and a source error in the middle of a head is returned
// wrapped.
func TestBufferedMidHead(t *testing.T) {
	timeout := errors.New("timeout")
	rd := NewReader(&scriptReader{steps: []step{{"GET / HT", timeout}}}, Limits{})
	var req Request
	if err := rd.ReadRequest(&req); !errors.Is(err, timeout) || StatusOf(err) != 0 {
		t.Fatalf("ReadRequest = %v, want the timeout", err)
	}
	if rd.Buffered() != 8 {
		t.Fatalf("Buffered = %d, want 8", rd.Buffered())
	}
	rd = NewReader(&scriptReader{steps: []step{{"", timeout}}}, Limits{})
	if err := rd.ReadRequest(&req); !errors.Is(err, timeout) {
		t.Fatalf("idle ReadRequest = %v", err)
	}
	if rd.Buffered() != 0 {
		t.Fatalf("idle Buffered = %d", rd.Buffered())
	}
}

// TestBufferBounded checks the Reader's buffer grows for a large head but
// never past what the limits need, however much a peer sends.
func TestBufferBounded(t *testing.T) {
	lim := Limits{MaxHeadBytes: 32 << 10, MaxLineBytes: 8 << 10}
	var sb strings.Builder
	sb.WriteString("GET / HTTP/1.1\r\nHost: a\r\n")
	for sb.Len() < 20<<10 {
		sb.WriteString("X-Filler: " + strings.Repeat("v", 4000) + "\r\n")
	}
	big := sb.String() + "\r\n"
	rd := NewReader(iotest.OneByteReader(strings.NewReader(big)), lim)
	var req Request
	if err := rd.ReadRequest(&req); err != nil {
		t.Fatal(err)
	}
	if len(rd.buf) > rd.maxBuf() {
		t.Fatalf("buffer %d bytes, bound %d", len(rd.buf), rd.maxBuf())
	}
	endless := io.MultiReader(strings.NewReader("GET / HTTP/1.1\r\n"), infiniteFields{})
	rd = NewReader(endless, lim)
	if err := rd.ReadRequest(&req); !errors.Is(err, ErrHeadTooLarge) && !errors.Is(err, ErrTooManyHeaders) {
		t.Fatalf("endless head: %v", err)
	}
	if len(rd.buf) > rd.maxBuf() {
		t.Fatalf("buffer %d bytes, bound %d", len(rd.buf), rd.maxBuf())
	}
	rd = NewReader(strings.NewReader("GET /"+strings.Repeat("a", 1<<20)), lim)
	if err := rd.ReadRequest(&req); !errors.Is(err, ErrURITooLong) {
		t.Fatalf("endless line: %v", err)
	}
	if len(rd.buf) > 16<<10 {
		t.Fatalf("buffer grew to %d for a line limited to 8 KiB", len(rd.buf))
	}
}

// infiniteFields serves "X: y\r\n" forever.
type infiniteFields struct{}

func (infiniteFields) Read(p []byte) (int, error) {
	const f = "X-Long-Field-Name: some value\r\n"
	n := 0
	for n+len(f) <= len(p) {
		n += copy(p[n:], f)
	}
	if n == 0 {
		n = copy(p, f)
	}
	return n, nil
}
