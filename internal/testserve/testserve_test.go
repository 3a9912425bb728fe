package testserve

import (
	"io"
	"net"
	"testing"
)

func TestTCP(t *testing.T) {
	addr := TCP(t, func(c net.Conn) { io.Copy(c, c) })
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "ping")
	c.(*net.TCPConn).CloseWrite()
	b, err := io.ReadAll(c)
	if err != nil || string(b) != "ping" {
		t.Fatalf("echo gave %q, %v", b, err)
	}
}
