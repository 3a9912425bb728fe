package proxyproto

import (
	"bytes"
	"errors"
	"io"
	"net"
	"testing"

	"golang.org/x/net/nettest"
)

const v1Line = "PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n"

func TestConnBufferedThenUnwrap(t *testing.T) {
	data := []byte("0123456789abcdef")
	client, c, _, err := acceptBytes(t, &Acceptor{}, cat([]byte(v1Line), data))
	if err != nil {
		t.Fatal(err)
	}
	// Header and data went in one write to a loopback socket, so the first
	// read took them together: the data is buffered.
	if got := c.Buffered(); got != len(data) {
		t.Fatalf("Buffered = %d, want %d", got, len(data))
	}
	p := make([]byte, 5)
	if n, err := c.Read(p); n != 5 || err != nil || string(p) != "01234" {
		t.Fatalf("Read = %d, %v, %q", n, err, p[:n])
	}
	if got := c.Buffered(); got != len(data)-5 {
		t.Fatalf("Buffered after partial read = %d, want %d", got, len(data)-5)
	}
	// The Unwrapper contract: read Buffered bytes through the wrapper, then
	// use the raw connection.
	rest := make([]byte, c.Buffered())
	if _, err := io.ReadFull(c, rest); err != nil || string(rest) != "56789abcdef" {
		t.Fatalf("buffered rest = %q, %v", rest, err)
	}
	if c.Buffered() != 0 {
		t.Fatalf("Buffered = %d after draining", c.Buffered())
	}
	raw := c.Unwrap()
	if _, ok := raw.(*net.TCPConn); !ok {
		t.Fatalf("Unwrap = %T, want *net.TCPConn", raw)
	}
	client.Write([]byte("raw"))
	client.CloseWrite()
	if got := readAllThrough(t, raw); string(got) != "raw" {
		t.Errorf("raw read = %q", got)
	}
}

func TestConnNothingBuffered(t *testing.T) {
	client, c, _, err := acceptBytes(t, &Acceptor{}, []byte(v1Line))
	if err != nil {
		t.Fatal(err)
	}
	if c.Buffered() != 0 || c.rest != nil {
		t.Fatalf("Buffered = %d, rest = %q", c.Buffered(), c.rest)
	}
	client.Write([]byte("x"))
	client.CloseWrite()
	if got := readAllThrough(t, c); string(got) != "x" {
		t.Errorf("read = %q", got)
	}
}

func TestConnReleasesLeftover(t *testing.T) {
	_, c, _, err := acceptBytes(t, &Acceptor{}, []byte(v1Line+"abc"))
	if err != nil {
		t.Fatal(err)
	}
	if cap(c.rest) != 3 {
		t.Errorf("leftover slice cap = %d, want exactly 3", cap(c.rest))
	}
	p := make([]byte, 10)
	if n, _ := c.Read(p); string(p[:n]) != "abc" {
		t.Fatalf("Read = %q", p[:n])
	}
	if c.rest != nil {
		t.Error("leftover slice kept after it was read")
	}
}

func TestConnWriteTo(t *testing.T) {
	data := bytes.Repeat([]byte("payload-"), 1000)
	client, c, _, err := acceptBytes(t, &Acceptor{}, cat([]byte(v1Line), data[:100]))
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() {
		_, err := client.Write(data[100:])
		client.CloseWrite()
		errc <- err
	}()
	var got bytes.Buffer
	n, err := c.WriteTo(&got)
	if err != nil || n != int64(len(data)) || !bytes.Equal(got.Bytes(), data) {
		t.Fatalf("WriteTo = %d, %v; data equal = %v", n, err, bytes.Equal(got.Bytes(), data))
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

// TestConnSplicedCopy copies a Conn into another TCP socket with io.Copy,
// the path that splices, and checks the bytes arrive whole and in order.
func TestConnSplicedCopy(t *testing.T) {
	data := bytes.Repeat([]byte("0123456789"), 10000)
	client, c, _, err := acceptBytes(t, &Acceptor{}, cat([]byte(v1Line), data[:50]))
	if err != nil {
		t.Fatal(err)
	}
	upClient, upServer := tcpPair(t)
	go func() {
		client.Write(data[50:])
		client.CloseWrite()
	}()
	copied := make(chan error, 1)
	go func() {
		_, err := io.Copy(upClient, c)
		upClient.CloseWrite()
		copied <- err
	}()
	got := readAllThrough(t, upServer)
	if err := <-copied; err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Fatalf("copied %d bytes, want %d equal bytes", len(got), len(data))
	}
}

func TestConnReadFrom(t *testing.T) {
	client, c, _, err := acceptBytes(t, &Acceptor{}, []byte(v1Line))
	if err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte("x"), 5000)
	if n, err := c.ReadFrom(bytes.NewReader(data)); n != int64(len(data)) || err != nil {
		t.Fatalf("ReadFrom = %d, %v", n, err)
	}
	c.CloseWrite()
	if got := readAllThrough(t, client); !bytes.Equal(got, data) {
		t.Fatalf("client read %d bytes, want %d", len(got), len(data))
	}
}

func TestConnCloseWrite(t *testing.T) {
	client, c, _, err := acceptBytes(t, &Acceptor{}, []byte(v1Line))
	if err != nil {
		t.Fatal(err)
	}
	c.Write([]byte("bye"))
	if err := c.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	if got := readAllThrough(t, client); string(got) != "bye" {
		t.Errorf("client read %q", got)
	}
	// Reads go on after the half-close.
	client.Write([]byte("still"))
	p := make([]byte, 5)
	if _, err := io.ReadFull(c, p); err != nil || string(p) != "still" {
		t.Errorf("read after CloseWrite = %q, %v", p, err)
	}
}

func TestConnCloseWriteUnsupported(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	go a.Write([]byte(v1Line))
	c, _, err := (&Acceptor{}).Accept(b)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.CloseWrite(); !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("CloseWrite on a pipe = %v, want ErrUnsupported", err)
	}
}

func TestConnNettest(t *testing.T) {
	nettest.TestConn(t, func() (c1, c2 net.Conn, stop func(), err error) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, nil, nil, err
		}
		defer ln.Close()
		client, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			return nil, nil, nil, err
		}
		server, err := ln.Accept()
		if err != nil {
			client.Close()
			return nil, nil, nil, err
		}
		if err := WriteHeader(client, 2, client.LocalAddr(), client.RemoteAddr(), nil); err != nil {
			return nil, nil, nil, err
		}
		c, _, err := (&Acceptor{}).Accept(server)
		if err != nil {
			client.Close()
			server.Close()
			return nil, nil, nil, err
		}
		return c, client, func() { c.Close(); client.Close() }, nil
	})
}
