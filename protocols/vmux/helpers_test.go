package vmux

import (
	"context"
	"math/rand/v2"
	"net"
	"testing"
	"time"
)

// tcpPair returns the two ends of a loopback TCP connection, closed when
// the test ends.
func tcpPair(t testing.TB) (client, server net.Conn) {
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
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server = <-accepted
	if server == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}

// sessionPair returns a client and a server session over loopback TCP,
// both closed when the test ends.
func sessionPair(t testing.TB, ccfg, scfg Config) (*Session, *Session) {
	t.Helper()
	c, s := tcpPair(t)
	cs, ss := Client(c, ccfg), Server(s, scfg)
	t.Cleanup(func() { cs.Close(); ss.Close() })
	return cs, ss
}

// streamPair opens a stream on c and accepts it on s.
func streamPair(t testing.TB, c, s *Session) (*Stream, *Stream) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	a, err := c.Open(ctx)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	b, err := s.Accept(ctx)
	if err != nil {
		t.Fatalf("Accept: %v", err)
	}
	if a.ID() != b.ID() {
		t.Fatalf("opened %d, accepted %d", a.ID(), b.ID())
	}
	return a, b
}

// payload returns n pseudo-random bytes from seed.
func payload(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// bufferedBytes is how many received bytes s's streams hold.
func bufferedBytes(s *Session) int {
	s.mu.Lock()
	streams := make([]*Stream, 0, len(s.streams))
	for _, st := range s.streams {
		streams = append(streams, st)
	}
	s.mu.Unlock()
	n := 0
	for _, st := range streams {
		st.mu.Lock()
		n += len(st.buf) - st.rpos
		st.mu.Unlock()
	}
	return n
}
