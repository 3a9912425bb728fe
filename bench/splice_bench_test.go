//go:build linux

package bench

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"sync"
	"syscall"
	"testing"

	"github.com/sluice-proxy/sluice/splice"
)

// The splice benchmarks move b.N payloads from a writer socket, through a
// copier, to a sink socket that drains them:
//
//	writer → src ⇒ copier ⇒ dst → sink
//
// and report MB/s of payload. "direct" has no copier: the sink reads the
// writer's socket, the ceiling for the others.

// streamConn is what *net.TCPConn and *net.UnixConn share.
type streamConn interface {
	net.Conn
	CloseWrite() error
}

// copier moves src to dst until EOF.
type copier struct {
	name string
	copy func(dst, src streamConn) error
}

var copiers = []copier{
	{"splice.Copy", func(dst, src streamConn) error { _, err := splice.Copy(dst, src); return err }},
	{"splice.Copy-always", poolCopy(splice.NewPool(splice.PoolConfig{Mode: splice.Always}))},
	{"splice.Copy-never", poolCopy(splice.NewPool(splice.PoolConfig{Mode: splice.Never}))},
	{"io.Copy", func(dst, src streamConn) error { _, err := io.Copy(dst, src); return err }},
	{"loop32k", func(dst, src streamConn) error { return loopCopy(dst, src, make([]byte, 32<<10)) }},
}

func poolCopy(p *splice.Pool) func(dst, src streamConn) error {
	return func(dst, src streamConn) error { _, err := p.Copy(dst, src); return err }
}

// loopCopy is the plain userspace loop: Read into buf, Write it.
func loopCopy(dst, src streamConn, buf []byte) error {
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return werr
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

func BenchmarkSpliceTCP(b *testing.B)  { benchSizes(b, tcpPair) }
func BenchmarkSpliceUnix(b *testing.B) { benchSizes(b, unixPair) }

func benchSizes(b *testing.B, pair func(testing.TB) (streamConn, streamConn)) {
	for _, size := range []int{4 << 10, 64 << 10, 1 << 20} {
		name := fmt.Sprintf("%dKiB", size>>10)
		b.Run(name+"/direct", func(b *testing.B) { benchDirect(b, pair, size) })
		for _, c := range copiers {
			b.Run(name+"/"+c.name, func(b *testing.B) { benchCopy(b, pair, size, c) })
		}
	}
}

// sink reads src to EOF into buf and sends the byte count.
func sink(src net.Conn, buf []byte, got chan<- int64) {
	var n int64
	for {
		m, err := src.Read(buf)
		n += int64(m)
		if err != nil {
			got <- n
			return
		}
	}
}

func benchCopy(b *testing.B, pair func(testing.TB) (streamConn, streamConn), size int, c copier) {
	w, src := pair(b)
	dst, rd := pair(b)
	copied := make(chan error, 1)
	go func() {
		err := c.copy(dst, src)
		dst.CloseWrite()
		copied <- err
	}()
	got := make(chan int64, 1)
	go sink(rd, make([]byte, 1<<20), got)
	write(b, w, size, got)
	if err := <-copied; err != nil {
		b.Fatal(err)
	}
}

func benchDirect(b *testing.B, pair func(testing.TB) (streamConn, streamConn), size int) {
	w, rd := pair(b)
	got := make(chan int64, 1)
	go sink(rd, make([]byte, 1<<20), got)
	write(b, w, size, got)
}

// write sends b.N payloads of size bytes on w, half-closes it and waits for
// the sink to have them all.
func write(b *testing.B, w streamConn, size int, got <-chan int64) {
	msg := make([]byte, size)
	for i := range msg {
		msg[i] = byte(i)
	}
	b.SetBytes(int64(size))
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, err := w.Write(msg); err != nil {
			b.Fatal(err)
		}
	}
	w.CloseWrite()
	n := <-got
	b.StopTimer()
	if want := int64(size) * int64(b.N); n != want {
		b.Fatalf("sink got %d bytes, want %d", n, want)
	}
}

// BenchmarkSplicePingPong measures 64-byte request/response transactions
// through a relay of both directions: splice.Join against two io.Copy
// goroutines.
func BenchmarkSplicePingPong(b *testing.B) {
	relays := []struct {
		name string
		join func(a, b streamConn)
	}{
		{"splice.Join", func(x, y streamConn) { splice.Join(context.Background(), x, y, splice.JoinOptions{}) }},
		{"io.Copy", func(x, y streamConn) {
			done := make(chan struct{})
			go func() {
				io.Copy(y, x)
				y.CloseWrite()
				close(done)
			}()
			io.Copy(x, y)
			x.CloseWrite()
			<-done
			x.Close()
			y.Close()
		}},
	}
	for _, r := range relays {
		b.Run("tcp/"+r.name, func(b *testing.B) {
			client, x := tcpPair(b)
			y, server := tcpPair(b)
			relayed := make(chan struct{})
			go func() {
				r.join(x, y)
				close(relayed)
			}()
			echoed := make(chan struct{})
			go func() {
				loopCopy(server, server, make([]byte, 32<<10))
				server.CloseWrite()
				close(echoed)
			}()
			msg := make([]byte, 64)
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if _, err := client.Write(msg); err != nil {
					b.Fatal(err)
				}
				if _, err := io.ReadFull(client, msg); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			client.CloseWrite()
			io.Copy(io.Discard, client)
			<-echoed
			<-relayed
		})
	}
}

// tcpPair returns both ends of a loopback TCP connection, closed when the
// benchmark ends.
func tcpPair(tb testing.TB) (streamConn, streamConn) { return tcpConns(tb) }

// tcpConns is tcpPair with the concrete type.
func tcpConns(tb testing.TB) (*net.TCPConn, *net.TCPConn) {
	tb.Helper()
	c, s := tcpPairNoCleanup(tb)
	tb.Cleanup(func() { c.Close(); s.Close() })
	return c, s
}

// unixPair returns a connected pair of stream Unix sockets.
func unixPair(tb testing.TB) (streamConn, streamConn) {
	tb.Helper()
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		tb.Fatal(err)
	}
	conn := func(fd int) streamConn {
		f := os.NewFile(uintptr(fd), "socketpair")
		defer f.Close()
		c, err := net.FileConn(f)
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { c.Close() })
		return c.(*net.UnixConn)
	}
	return conn(fds[0]), conn(fds[1])
}

// BenchmarkSpliceIdleJoin opens idleConns relayed connections, moves one
// byte each way through every relay so that both directions have run, and
// measures what the idle relays hold: file descriptors, heap and goroutine
// stacks per connection. The counts include the two test peers of each
// relay (client and server sockets), the same for both relays. Run it in
// its own process with -benchtime=1x.
func BenchmarkSpliceIdleJoin(b *testing.B) {
	const idleConns = 500
	relays := []struct {
		name string
		join func(a, b streamConn)
	}{
		{"splice.Join", func(x, y streamConn) { splice.Join(context.Background(), x, y, splice.JoinOptions{}) }},
		{"io.Copy", func(x, y streamConn) {
			done := make(chan struct{})
			go func() {
				io.Copy(y, x)
				y.Close()
				close(done)
			}()
			io.Copy(x, y)
			x.Close()
			<-done
		}},
	}
	for _, r := range relays {
		b.Run(r.name, func(b *testing.B) {
			// Only the first round counts: later rounds reuse pipes
			// that earlier ones left in Go's splice pool.
			var fds, heap, stack float64
			for i := range b.N {
				f, h, s := idleJoins(b, idleConns, r.join)
				if i == 0 {
					fds, heap, stack = f, h, s
				}
			}
			b.ReportMetric(fds, "fds/conn")
			b.ReportMetric(heap, "heap-B/conn")
			b.ReportMetric(stack, "stack-B/conn")
		})
	}
}

// idleJoins relays n idle connections with join and returns the file
// descriptors, heap and stack bytes per connection while they idle.
func idleJoins(b *testing.B, n int, join func(a, b streamConn)) (fds, heap, stack float64) {
	b.StopTimer()
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	fdsBefore := openFDs(b)
	b.StartTimer()
	var wg sync.WaitGroup
	peers := make([]streamConn, 0, 2*n)
	for range n {
		client, x := tcpPairNoCleanup(b)
		y, server := tcpPairNoCleanup(b)
		peers = append(peers, client, server)
		wg.Go(func() { join(x, y) })
		var one [1]byte
		client.Write(one[:])
		io.ReadFull(server, one[:])
		server.Write(one[:])
		io.ReadFull(client, one[:])
	}
	b.StopTimer()
	runtime.GC()
	runtime.ReadMemStats(&after)
	fds = float64(openFDs(b)-fdsBefore) / float64(n)
	heap = float64(int64(after.HeapInuse)-int64(before.HeapInuse)) / float64(n)
	stack = float64(int64(after.StackInuse)-int64(before.StackInuse)) / float64(n)
	for _, c := range peers {
		c.Close()
	}
	wg.Wait()
	b.StartTimer()
	return fds, heap, stack
}

func openFDs(b *testing.B) int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		b.Skip("no /proc/self/fd")
	}
	return len(ents)
}

// tcpPairNoCleanup is tcpPair for callers that close the conns themselves.
func tcpPairNoCleanup(tb testing.TB) (*net.TCPConn, *net.TCPConn) {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		tb.Fatal(err)
	}
	s := <-accepted
	if s == nil {
		tb.Fatal("accept failed")
	}
	return c.(*net.TCPConn), s.(*net.TCPConn)
}
