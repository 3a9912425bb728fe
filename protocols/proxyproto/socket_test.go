package proxyproto

import (
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"testing"
)

// tcpPair returns both ends of a fresh loopback TCP connection.
func tcpPair(t testing.TB) (client, server *net.TCPConn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	s, err := ln.Accept()
	if err != nil {
		c.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(); s.Close() })
	return c.(*net.TCPConn), s.(*net.TCPConn)
}

// acceptBytes writes input from a fresh client socket in one Write and
// accepts it on the server side; the client stays open (and silent) after.
func acceptBytes(t testing.TB, a *Acceptor, input []byte) (client *net.TCPConn, c *Conn, h *Header, err error) {
	t.Helper()
	client, server := tcpPair(t)
	if len(input) > 0 {
		if _, err := client.Write(input); err != nil {
			t.Fatal(err)
		}
	}
	c, h, err = a.Accept(server)
	return client, c, h, err
}

var sigV2 = []byte("\r\n\r\n\x00\r\nQUIT\n")

// v2 builds a v2 header by hand: signature, command byte, family byte,
// length, payload.
func v2(cmd, fam byte, payload ...[]byte) []byte {
	p := bytes.Join(payload, nil)
	b := append([]byte(nil), sigV2...)
	b = append(b, cmd, fam)
	b = binary.BigEndian.AppendUint16(b, uint16(len(p)))
	return append(b, p...)
}

// tlv encodes one TLV record by hand.
func tlv(typ byte, value []byte) []byte {
	b := []byte{typ}
	b = binary.BigEndian.AppendUint16(b, uint16(len(value)))
	return append(b, value...)
}

// cat concatenates byte slices.
func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// readAllThrough reads c until EOF.
func readAllThrough(t testing.TB, c net.Conn) []byte {
	t.Helper()
	var buf bytes.Buffer
	p := make([]byte, 7) // small reads exercise partial copies of leftovers
	for {
		n, err := c.Read(p)
		buf.Write(p[:n])
		if err == io.EOF {
			return buf.Bytes()
		}
		if err != nil {
			t.Fatalf("read: %v", err)
		}
	}
}
