//go:build linux

package bench

import (
	"context"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluice-proxy/sluice/lb"
	"github.com/sluice-proxy/sluice/udpproxy"
)

// udpEchoUpstream serves a UDP echo on 127.0.0.1:0 until the benchmark
// ends. ReadFromUDPAddrPort and WriteToUDPAddrPort allocate nothing, so the
// echo adds no allocations to the figures.
func udpEchoUpstream(b *testing.B) string {
	b.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		b.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		buf := make([]byte, 65536)
		for {
			n, from, err := c.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			c.WriteToUDPAddrPort(buf[:n], from)
		}
	}()
	b.Cleanup(func() { c.Close(); wg.Wait() })
	return c.LocalAddr().String()
}

// udpProxy runs a udpproxy service in front of upstream and returns its
// address.
func udpProxy(b *testing.B, upstream string, proxyV2 bool) string {
	b.Helper()
	cfg := udpproxy.Config{
		Name:      "bench",
		Listen:    []string{"127.0.0.1:0"},
		Upstreams: []lb.BackendConfig{{Addr: upstream}},
	}
	if proxyV2 {
		cfg.ProxyOut = 2
	}
	p, err := udpproxy.New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	if err := p.Listen(); err != nil {
		b.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- p.Serve(context.Background()) }()
	b.Cleanup(func() {
		p.Shutdown(context.Background())
		<-done
	})
	return p.Addrs()[0].String()
}

// udpTarget returns where clients send: the echo itself ("direct") or a
// proxy in front of it.
func udpTarget(b *testing.B, via string) string {
	echo := udpEchoUpstream(b)
	switch via {
	case "direct":
		return echo
	case "sluice":
		return udpProxy(b, echo, false)
	case "sluice+proxyv2":
		return udpProxy(b, echo, true)
	}
	b.Fatalf("unknown target %q", via)
	return ""
}

func udpDial(b *testing.B, addr string) *net.UDPConn {
	b.Helper()
	ra, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		b.Fatal(err)
	}
	c, err := net.DialUDP("udp", nil, ra)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	return c
}

// BenchmarkUDPRoundTrip is one client with one datagram in flight: the
// latency of the datagram path, client → proxy → echo → proxy → client.
// allocs/op is that of the whole process in steady state (the session is
// made before the timer starts).
func BenchmarkUDPRoundTrip(b *testing.B) {
	for _, via := range []string{"direct", "sluice", "sluice+proxyv2"} {
		b.Run(via, func(b *testing.B) {
			c := udpDial(b, udpTarget(b, via))
			msg := make([]byte, 64)
			buf := make([]byte, 2048)
			c.SetReadDeadline(time.Now().Add(time.Minute))
			roundTrip := func() {
				if _, err := c.Write(msg); err != nil {
					b.Fatal(err)
				}
				if _, err := c.Read(buf); err != nil {
					b.Fatal(err)
				}
			}
			roundTrip() // create the session
			b.ReportAllocs()
			b.SetBytes(int64(len(msg)))
			b.ResetTimer()
			for b.Loop() {
				roundTrip()
			}
		})
	}
}

// BenchmarkUDPPipelined is the side-by-side shape: 8 flows, each keeping 8
// datagrams of 256 bytes in flight. One op is one echoed datagram; the
// datagrams/s metric is the figure bench/run-udp.sh reports for real
// processes.
func BenchmarkUDPPipelined(b *testing.B) {
	const flows, inflight, size = 8, 8, 256
	for _, via := range []string{"direct", "sluice", "sluice+proxyv2"} {
		b.Run(fmt.Sprintf("%s/flows=%d/inflight=%d/size=%d", via, flows, inflight, size), func(b *testing.B) {
			addr := udpTarget(b, via)
			conns := make([]*net.UDPConn, flows)
			for i := range conns {
				conns[i] = udpDial(b, addr)
				conns[i].SetReadDeadline(time.Now().Add(time.Minute))
				msg := make([]byte, size)
				conns[i].Write(msg) // create the session
				conns[i].Read(make([]byte, 2048))
			}
			b.ReportAllocs()
			b.SetBytes(size)
			b.ResetTimer()
			var left atomic.Int64
			left.Store(int64(b.N))
			var wg sync.WaitGroup
			errs := make(chan error, flows)
			for _, c := range conns {
				wg.Add(1)
				go func() {
					defer wg.Done()
					msg := make([]byte, size)
					buf := make([]byte, 2048)
					out := 0
					send := func() bool {
						if left.Add(-1) < 0 {
							return false
						}
						if _, err := c.Write(msg); err != nil {
							errs <- err
							return false
						}
						out++
						return true
					}
					for out < inflight && send() {
					}
					for out > 0 {
						if _, err := c.Read(buf); err != nil {
							errs <- err
							return
						}
						out--
						send()
					}
				}()
			}
			wg.Wait()
			b.StopTimer()
			close(errs)
			for err := range errs {
				b.Fatal(err)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "datagrams/s")
		})
	}
}
