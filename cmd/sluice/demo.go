package main

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
)

//go:embed demo.yaml
var demoYAML []byte

// runDemo runs the embedded demo: an in-process echo upstream, a forwarder
// in front of it and the metrics endpoint.
func runDemo(ctx context.Context, stdout, stderr io.Writer) error {
	cfg, err := parseConfig("demo.yaml (embedded)", demoYAML)
	if err != nil {
		return err
	}
	return serveDemo(ctx, cfg, stdout, stderr, nil)
}

// serveDemo starts the echo upstream at the address of the demo's first
// upstream, then runs cfg. ready, when set, sees the running app.
func serveDemo(ctx context.Context, cfg *Config, stdout, stderr io.Writer, ready func(*app)) error {
	up := cfg.TCP[0].Upstreams[0].Addr
	echo, err := net.Listen(up.Network, up.Address)
	if err != nil {
		return fmt.Errorf("demo echo upstream: %w", err)
	}
	cfg.TCP[0].Upstreams[0].Addr.Address = echo.Addr().String()
	var wg sync.WaitGroup
	wg.Add(1)
	go serveEcho(echo, &wg)
	defer func() {
		echo.Close()
		wg.Wait()
	}()
	var udpEcho net.PacketConn
	if len(cfg.UDP) > 0 {
		ua := cfg.UDP[0].Upstreams[0].Addr
		if udpEcho, err = net.ListenPacket("udp", ua.Address); err != nil {
			return fmt.Errorf("demo UDP echo upstream: %w", err)
		}
		cfg.UDP[0].Upstreams[0].Addr.Address = udpEcho.LocalAddr().String()
		wg.Add(1)
		go serveUDPEcho(udpEcho, &wg)
		defer udpEcho.Close()
	}
	return run(ctx, cfg, stdout, stderr, func(a *app) {
		fwd := a.services[0].listeners[0].Addr().String()
		fmt.Fprintf(stdout, "sluice demo\n")
		fmt.Fprintf(stdout, "  echo upstream (in-process)  %s\n", echo.Addr())
		fmt.Fprintf(stdout, "  TCP forwarder               %s -> %s\n", fwd, echo.Addr())
		if a.metricsL != nil {
			fmt.Fprintf(stdout, "  metrics                     http://%s%s\n", a.metricsL.Addr(), cfg.Metrics.Path)
		}
		var udpFwd string
		if udpEcho != nil && len(a.udpServices) > 0 {
			udpFwd = a.udpServices[0].proxy.Addrs()[0].String()
			fmt.Fprintf(stdout, "  UDP echo upstream           %s\n", udpEcho.LocalAddr())
			fmt.Fprintf(stdout, "  UDP forwarder               %s -> %s\n", udpFwd, udpEcho.LocalAddr())
		}
		fmt.Fprintf(stdout, "try:\n  echo hello | nc -q1 %s %s\n", hostOf(fwd), portOf(fwd))
		if udpFwd != "" {
			fmt.Fprintf(stdout, "  echo hello | nc -u -q1 %s %s\n", hostOf(udpFwd), portOf(udpFwd))
		}
		if a.metricsL != nil {
			fmt.Fprintf(stdout, "  curl -s http://%s%s | grep sluice_tcp\n", a.metricsL.Addr(), cfg.Metrics.Path)
		}
		fmt.Fprintf(stdout, "Ctrl-C stops it (open connections drain first).\n")
		if ready != nil {
			ready(a)
		}
	})
}

func hostOf(hp string) string { h, _, _ := net.SplitHostPort(hp); return h }
func portOf(hp string) string { _, p, _ := net.SplitHostPort(hp); return p }

// serveEcho echoes every connection until l closes.
func serveEcho(l net.Listener, wg *sync.WaitGroup) {
	defer wg.Done()
	var conns sync.WaitGroup
	defer conns.Wait()
	for {
		c, err := l.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		conns.Add(1)
		go echoConn(c, &conns)
	}
}

func echoConn(c net.Conn, wg *sync.WaitGroup) {
	defer wg.Done()
	defer c.Close()
	io.Copy(c, c)
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	}
}

// serveUDPEcho sends every datagram back to its sender until pc closes.
func serveUDPEcho(pc net.PacketConn, wg *sync.WaitGroup) {
	defer wg.Done()
	buf := make([]byte, 64<<10)
	for {
		n, addr, err := pc.ReadFrom(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		pc.WriteTo(buf[:n], addr)
	}
}
