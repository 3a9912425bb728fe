package bench

import (
	"context"
	"io"
	"net"
	"testing"

	"github.com/sluice-proxy/sluice/internal/testserve"
	"github.com/sluice-proxy/sluice/lb"
	"github.com/sluice-proxy/sluice/tcpproxy"
)

// echoUpstream serves an echo on 127.0.0.1:0 until the benchmark ends.
func echoUpstream(b *testing.B) string {
	b.Helper()
	return testserve.TCP(b, func(c net.Conn) { io.Copy(c, c) })
}

// startTCPProxy runs a tcpproxy in front of upstream and returns its address.
func startTCPProxy(b *testing.B, upstream string) string {
	b.Helper()
	bal, err := lb.New([]lb.BackendConfig{{Addr: upstream}}, lb.RoundRobin)
	if err != nil {
		b.Fatal(err)
	}
	p, err := tcpproxy.New(tcpproxy.Config{Name: "bench", Balancer: bal, IdleTimeout: -1})
	if err != nil {
		b.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); p.Serve(context.Background(), ln) }()
	b.Cleanup(func() {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		p.Shutdown(ctx)
		<-done
	})
	return ln.Addr().String()
}

// BenchmarkTCPProxyConnect is one proxied connection per iteration: connect,
// 1-byte echo, close. allocs/op covers both the client side and the proxy.
func BenchmarkTCPProxyConnect(b *testing.B) {
	addr := startTCPProxy(b, echoUpstream(b))
	buf := make([]byte, 1)
	b.ReportAllocs()
	for b.Loop() {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := c.Write(buf); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(c, buf); err != nil {
			b.Fatal(err)
		}
		c.Close()
	}
}

// BenchmarkTCPProxyPingPong is one 64-byte round trip per iteration over a
// proxied connection that stays open.
func BenchmarkTCPProxyPingPong(b *testing.B) {
	addr := startTCPProxy(b, echoUpstream(b))
	c, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	msg := make([]byte, 64)
	b.SetBytes(64)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Write(msg); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(c, msg); err != nil {
			b.Fatal(err)
		}
	}
}
