//go:build linux

package splice

import (
	"bufio"
	"math/rand/v2"
	"net"
	"os"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/sluice-proxy/sluice/fdpoll"
)

// connKind names a kind of stream socket the tests connect.
type connKind string

const (
	tcpKind  connKind = "tcp"
	unixKind connKind = "unix"
	// fdpollKind is a TCP connection whose ends are served by an
	// fdpoll.Poller instead of Go's netpoller.
	fdpollKind connKind = "fdpoll"
)

// socketConn is what both *net.TCPConn and *net.UnixConn offer.
type socketConn interface {
	net.Conn
	CloseWrite() error
}

// pair returns two connected sockets of the kind, closed at cleanup.
func pair(t testing.TB, kind connKind) (socketConn, socketConn) {
	t.Helper()
	switch kind {
	case tcpKind:
		return tcpPair(t)
	case unixKind:
		return unixPair(t, syscall.SOCK_STREAM)
	case fdpollKind:
		return fdpollPair(t)
	}
	t.Fatalf("unknown kind %q", kind)
	return nil, nil
}

// tcpPair returns both ends of a loopback TCP connection.
func tcpPair(t testing.TB) (*net.TCPConn, *net.TCPConn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	type result struct {
		c   net.Conn
		err error
	}
	accepted := make(chan result, 1)
	go func() {
		c, err := ln.Accept()
		accepted <- result{c, err}
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	res := <-accepted
	if res.err != nil {
		c.Close()
		t.Fatal(res.err)
	}
	t.Cleanup(func() { c.Close(); res.c.Close() })
	return c.(*net.TCPConn), res.c.(*net.TCPConn)
}

// fdpollPair returns both ends of a loopback TCP connection, served by a
// Poller of their own.
func fdpollPair(t testing.TB) (*fdpoll.Conn, *fdpoll.Conn) {
	t.Helper()
	p, err := fdpoll.New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	a, b := tcpPair(t)
	wa, err := p.Wrap(a)
	if err != nil {
		t.Fatal(err)
	}
	wb, err := p.Wrap(b)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { wa.Close(); wb.Close() })
	return wa, wb
}

// unixPair returns a connected pair of Unix sockets of type typ.
func unixPair(t testing.TB, typ int) (*net.UnixConn, *net.UnixConn) {
	t.Helper()
	fds, err := syscall.Socketpair(syscall.AF_UNIX, typ|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	conn := func(fd int) *net.UnixConn {
		f := os.NewFile(uintptr(fd), "socketpair")
		defer f.Close()
		c, err := net.FileConn(f)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c.(*net.UnixConn)
	}
	return conn(fds[0]), conn(fds[1])
}

// payload returns n random bytes from a seeded source.
func payload(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, seed^0x5eed))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// bufConn is a wrapper like go-proxyproto's Conn: it reads through a
// bufio.Reader and unwraps to the connection underneath. It counts the
// bytes that went through its Read and Write.
type bufConn struct {
	net.Conn
	br          *bufio.Reader
	read, wrote atomic.Int64
}

func newBufConn(c net.Conn) *bufConn { return &bufConn{Conn: c, br: bufio.NewReaderSize(c, 4096)} }

func (c *bufConn) Read(p []byte) (int, error) {
	n, err := c.br.Read(p)
	c.read.Add(int64(n))
	return n, err
}

func (c *bufConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.wrote.Add(int64(n))
	return n, err
}

func (c *bufConn) Unwrap() net.Conn { return c.Conn }
func (c *bufConn) Buffered() int    { return c.br.Buffered() }

var _ unwrapper = (*bufConn)(nil)
