package vstream

import (
	"io"
	"net"
	"testing"

	"golang.org/x/net/nettest"
)

// TestPrefixConn: the prefix is read first, then the connection; Buffered
// counts what is left of the prefix.
func TestPrefixConn(t *testing.T) {
	a, b := Pipe()
	defer a.Close()
	c := WithPrefix(b, []byte("hello, "))
	if c.Buffered() != 7 || c.Unwrap() != b {
		t.Fatalf("Buffered %d", c.Buffered())
	}
	go func() {
		a.Write([]byte("world"))
		a.CloseWrite()
	}()
	got, err := io.ReadAll(c)
	if err != nil || string(got) != "hello, world" {
		t.Fatalf("read %q, %v", got, err)
	}
	if c.Buffered() != 0 {
		t.Fatalf("Buffered %d after the prefix was read", c.Buffered())
	}
}

// TestPrefixConnIsAConn: with an empty prefix, PrefixConn passes
// nettest's conformance tests of a net.Conn.
func TestPrefixConnIsAConn(t *testing.T) {
	nettest.TestConn(t, func() (net.Conn, net.Conn, func(), error) {
		a, b := Pipe()
		return WithPrefix(a, nil), b, func() { a.Close(); b.Close() }, nil
	})
}
