package vstream

import (
	"bytes"
	"context"
	"io"
	"net"
	"testing"

	"github.com/sluice-proxy/sluice/splice"
)

// tcpPair returns the two ends of a loopback TCP connection.
func tcpPair(t *testing.T) (*net.TCPConn, *net.TCPConn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	s := <-accepted
	if s == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { c.Close(); s.Close() })
	return c.(*net.TCPConn), s.(*net.TCPConn)
}

// TestJoinUnwrapsOrCopies relays through splice.Join between two streams
// and checks the bytes arrive exactly, and that the path taken is the one
// the streams allow: splice(2) when both ends are vstream.Conns over TCP
// sockets (they unwrap), a buffered copy when one end is a virtual stream.
func TestJoinUnwrapsOrCopies(t *testing.T) {
	type ends struct {
		client net.Conn // writes into a, reads from a
		a      net.Conn // Join's first end
		b      net.Conn // Join's second end
		server net.Conn // reads from b, writes into b
	}
	tests := []struct {
		name    string
		make    func(t *testing.T) ends
		spliced bool
	}{
		{"conn over tcp both sides", func(t *testing.T) ends {
			c1, a := tcpPair(t)
			b, s2 := tcpPair(t)
			return ends{c1, NewConn(a, nil), NewConn(b, nil), s2}
		}, true},
		{"pipe to tcp", func(t *testing.T) ends {
			c1, a := Pipe()
			b, s2 := tcpPair(t)
			return ends{c1, a, NewConn(b, nil), s2}
		}, false},
		{"pipe to pipe", func(t *testing.T) ends {
			c1, a := Pipe()
			b, s2 := Pipe()
			return ends{c1, a, b, s2}
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := splice.NewPool(splice.PoolConfig{Mode: splice.Always})
			e := tt.make(t)
			done := make(chan error, 1)
			go func() {
				_, err := splice.Join(context.Background(), e.a, e.b, splice.JoinOptions{Pool: p})
				done <- err
			}()
			up := bytes.Repeat([]byte("0123456789abcdef"), 64<<10) // 1 MiB
			go func() {
				e.client.Write(up)
				e.client.(Stream).CloseWrite()
			}()
			got, err := io.ReadAll(e.server)
			if err != nil || !bytes.Equal(got, up) {
				t.Fatalf("server read %d bytes (%v), want %d exact", len(got), err, len(up))
			}
			down := []byte("response")
			e.server.Write(down)
			e.server.(Stream).CloseWrite()
			got, err = io.ReadAll(e.client)
			if err != nil || !bytes.Equal(got, down) {
				t.Fatalf("client read %q, %v", got, err)
			}
			if err := <-done; err != nil {
				t.Fatalf("Join = %v", err)
			}
			st := p.Stats()
			total := int64(len(up) + len(down))
			if st.SplicedBytes+st.CopiedBytes != total {
				t.Fatalf("pool moved %d+%d bytes, want %d", st.SplicedBytes, st.CopiedBytes, total)
			}
			if tt.spliced && st.SplicedBytes != total {
				t.Errorf("spliced %d of %d bytes through unwrapped sockets", st.SplicedBytes, total)
			}
			if !tt.spliced && st.SplicedBytes != 0 {
				t.Errorf("spliced %d bytes with a virtual end", st.SplicedBytes)
			}
		})
	}
}
