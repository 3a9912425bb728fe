package bench

import (
	"context"
	"fmt"
	"io"
	"net"
	"testing"

	"github.com/sluice-proxy/sluice/protocols/vmux"
	"github.com/sluice-proxy/sluice/splice"
	"github.com/sluice-proxy/sluice/vstream"
)

// The vstream benchmarks move b.N chunks from a writer to a reader that
// drains them and report MB/s of payload and allocations per chunk, for
// 1 KiB and 32 KiB chunks (sub-benchmark suffixes /1KiB and /32KiB):
//
//	Pipe           writer → vstream.Pipe → reader (Pipe/vstream), next to
//	               net.Pipe (Pipe/net)
//	VmuxStream     writer → one vmux stream over loopback TCP → reader
//	               (VmuxStream/vmux), next to the bare TCP connection (VmuxStream/tcp)
//	VmuxStreams8   the same over 8 streams of one session at once (32 KiB only)
//	Relay          the proxy path: client → front → relay (splice.Join of the
//	               accepted connection and a TCP upstream) → upstream sink, with
//	               a vmux stream in front (Relay/vmux: copied, the stream is not a
//	               socket) and with a TCP connection in front (Relay/tcp: spliced).

var vsSizes = []int{1 << 10, 32 << 10}

// vsDrain reads r to EOF with a buffer of n bytes and reports the count.
func vsDrain(r io.Reader, n int, got chan<- int64) {
	buf := make([]byte, n)
	var total int64
	for {
		k, err := r.Read(buf)
		total += int64(k)
		if err != nil {
			got <- total
			return
		}
	}
}

// vsPush writes b.N chunks of size bytes to w, half-closes it, and waits
// for the reader's count.
func vsPush(b *testing.B, w vstream.Stream, size int, got <-chan int64) {
	b.Helper()
	vsPushThen(b, w, w.CloseWrite, size, got)
}

// vsPushThen is vsPush with end as the half-close.
func vsPushThen(b *testing.B, w io.Writer, end func() error, size int, got <-chan int64) {
	b.Helper()
	chunk := make([]byte, size)
	b.SetBytes(int64(size))
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, err := w.Write(chunk); err != nil {
			b.Fatal(err)
		}
	}
	if err := end(); err != nil {
		b.Fatal(err)
	}
	n := <-got
	b.StopTimer()
	if n != int64(b.N)*int64(size) {
		b.Fatalf("reader got %d bytes, want %d", n, int64(b.N)*int64(size))
	}
}

// BenchmarkPipe measures vstream.Pipe next to net.Pipe, its unbuffered
// peer in the standard library.
func BenchmarkPipe(b *testing.B) {
	for _, size := range vsSizes {
		b.Run(fmt.Sprintf("vstream/%dKiB", size>>10), func(b *testing.B) {
			w, r := vstream.Pipe()
			defer w.Close()
			defer r.Close()
			got := make(chan int64, 1)
			go vsDrain(r, 32<<10, got)
			vsPush(b, w, size, got)
		})
		b.Run(fmt.Sprintf("net/%dKiB", size>>10), func(b *testing.B) {
			w, r := net.Pipe()
			defer r.Close()
			got := make(chan int64, 1)
			go vsDrain(r, 32<<10, got)
			vsPushThen(b, w, w.Close, size, got) // no CloseWrite: Close ends it
		})
	}
}

// vsSessions returns a client and a server vmux session over loopback TCP.
func vsSessions(b *testing.B, cfg vmux.Config) (*vmux.Session, *vmux.Session) {
	b.Helper()
	c, s := tcpConns(b)
	cs, ss := vmux.Client(c, cfg), vmux.Server(s, cfg)
	b.Cleanup(func() { cs.Close(); ss.Close() })
	return cs, ss
}

// BenchmarkVmuxStream measures one vmux stream next to the loopback TCP
// connection it runs over ("tcp": the same bytes without vmux).
func BenchmarkVmuxStream(b *testing.B) {
	for _, size := range vsSizes {
		b.Run(fmt.Sprintf("tcp/%dKiB", size>>10), func(b *testing.B) {
			w, r := tcpConns(b)
			got := make(chan int64, 1)
			go vsDrain(r, 32<<10, got)
			vsPush(b, w, size, got)
		})
		b.Run(fmt.Sprintf("vmux/%dKiB", size>>10), func(b *testing.B) {
			cs, ss := vsSessions(b, vmux.Config{})
			w, err := cs.Open(context.Background())
			if err != nil {
				b.Fatal(err)
			}
			r, err := ss.Accept(context.Background())
			if err != nil {
				b.Fatal(err)
			}
			got := make(chan int64, 1)
			go vsDrain(r, 32<<10, got)
			vsPush(b, w, size, got)
		})
	}
}

// BenchmarkVmuxStreams8 moves the chunks over 8 streams of one session at
// once: the cost of sharing a connection.
func BenchmarkVmuxStreams8(b *testing.B) {
	const streams = 8
	size := 32 << 10
	cs, ss := vsSessions(b, vmux.Config{})
	ws := make([]*vmux.Stream, streams)
	got := make(chan int64, streams)
	for i := range ws {
		w, err := cs.Open(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		r, err := ss.Accept(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		ws[i] = w
		go vsDrain(r, 32<<10, got)
	}
	chunk := make([]byte, size)
	b.SetBytes(int64(size))
	b.ReportAllocs()
	b.ResetTimer()
	errs := make(chan error, streams)
	for i, w := range ws {
		n := b.N / streams
		if i < b.N%streams {
			n++
		}
		go func() {
			for range n {
				if _, err := w.Write(chunk); err != nil {
					errs <- err
					return
				}
			}
			errs <- w.CloseWrite()
		}()
	}
	var total int64
	for range streams {
		if err := <-errs; err != nil {
			b.Fatal(err)
		}
		total += <-got
	}
	b.StopTimer()
	if total != int64(b.N)*int64(size) {
		b.Fatalf("readers got %d bytes, want %d", total, int64(b.N)*int64(size))
	}
}

// vsUpstream starts a TCP sink that drains one connection and reports
// its byte count.
func vsUpstream(b *testing.B) (string, <-chan int64) {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ln.Close() })
	got := make(chan int64, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		vsDrain(c, 64<<10, got)
	}()
	return ln.Addr().String(), got
}

// vsRelay joins down with a new connection to upstream, as a proxy does.
func vsRelay(b *testing.B, down net.Conn, upstream string) {
	up, err := net.Dial("tcp", upstream)
	if err != nil {
		b.Error(err)
		down.Close()
		return
	}
	splice.Join(context.Background(), down, up, splice.JoinOptions{})
}

// BenchmarkRelay compares the proxy path with a TCP connection in front
// (spliced: both ends are sockets) and with a vmux stream in front (copied:
// the stream is not a socket).
func BenchmarkRelay(b *testing.B) {
	for _, front := range []string{"tcp", "vmux"} {
		for _, size := range vsSizes {
			b.Run(fmt.Sprintf("%s/%dKiB", front, size>>10), func(b *testing.B) {
				upstream, got := vsUpstream(b)
				var w vstream.Stream
				switch front {
				case "tcp":
					c, s := tcpConns(b)
					go vsRelay(b, s, upstream)
					w = c
				case "vmux":
					cs, ss := vsSessions(b, vmux.Config{})
					st, err := cs.Open(context.Background())
					if err != nil {
						b.Fatal(err)
					}
					go func() {
						down, err := ss.Accept(context.Background())
						if err != nil {
							b.Error(err)
							return
						}
						vsRelay(b, down, upstream)
					}()
					w = st
				}
				vsPush(b, w, size, got)
			})
		}
	}
}
