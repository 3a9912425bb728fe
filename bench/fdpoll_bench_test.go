package bench

import (
	"io"
	"net"
	"testing"

	"github.com/sluice-proxy/sluice/fdpoll"
)

// BenchmarkConnPingPong is one 64-byte request and its echo per iteration
// over a loopback TCP connection, both ends served by Go's netpoller
// ("net") or by an fdpoll.Poller ("fdpoll"): what the poller saves per
// small message (the read that finds nothing, the netpoller's bookkeeping).
func BenchmarkConnPingPong(b *testing.B) {
	b.Run("net", func(b *testing.B) {
		c, s := tcpConns(b)
		benchPingPong(b, c, s)
	})
	b.Run("fdpoll", func(b *testing.B) {
		pl, err := fdpoll.New()
		if err != nil {
			b.Skip(err)
		}
		defer pl.Close()
		c, s := tcpPairNoCleanup(b)
		wc, err := pl.Wrap(c)
		if err != nil {
			b.Fatal(err)
		}
		ws, err := pl.Wrap(s)
		if err != nil {
			b.Fatal(err)
		}
		defer wc.Close()
		defer ws.Close()
		benchPingPong(b, wc, ws)
	})
}

// benchPingPong echoes on s and runs b.N round trips from c.
func benchPingPong(b *testing.B, c, s net.Conn) {
	go func() {
		buf := make([]byte, 64)
		for {
			if _, err := io.ReadFull(s, buf); err != nil {
				return
			}
			if _, err := s.Write(buf); err != nil {
				return
			}
		}
	}()
	msg := make([]byte, 64)
	buf := make([]byte, 64)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := c.Write(msg); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(c, buf); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	c.Close()
	s.Close()
}
