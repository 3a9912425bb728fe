package main

import (
	"context"
	"crypto/tls"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/sluice-proxy/sluice/internal/testcert"
	"github.com/sluice-proxy/sluice/shell"
	"github.com/sluice-proxy/sluice/transport"
)

//go:embed demo.yaml
var demoYAML []byte

// runDemo runs the embedded demo: in-process echo upstreams with TCP and
// UDP forwarders in front of them, two HTTP origins behind an HTTP load
// balancer, and the metrics endpoint.
func runDemo(ctx context.Context, stdout, stderr io.Writer) error {
	cfg, err := parseConfig("demo.yaml (embedded)", demoYAML)
	if err != nil {
		return err
	}
	return serveDemo(ctx, cfg, stdout, stderr, nil)
}

// serveDemo starts the stand-in upstreams at the addresses of the demo's
// upstreams (the echo servers at the first TCP and UDP services', an HTTP
// origin at each of the first HTTP service's), then runs cfg. ready, when
// set, sees the running app.
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
	var origins []net.Listener
	if len(cfg.HTTP) > 0 {
		ups := cfg.HTTP[0].Upstreams
		for i := range ups {
			l, err := net.Listen(ups[i].Addr.Network, ups[i].Addr.Address)
			if err != nil {
				for _, l := range origins {
					l.Close()
				}
				return fmt.Errorf("demo HTTP origin: %w", err)
			}
			ups[i].Addr.Address = l.Addr().String()
			origins = append(origins, l)
		}
		srvs := make([]*http.Server, len(origins))
		for i, l := range origins {
			srvs[i] = demoOrigin(string(rune('A' + i%26)))
			wg.Add(1)
			go serveDemoOrigin(srvs[i], l, &wg)
		}
		defer func() {
			for _, srv := range srvs {
				srv.Close()
			}
		}()
	}
	caFile, cleanup, err := addDemoHTTPS(cfg)
	if err != nil {
		return err
	}
	defer cleanup()
	return run(ctx, cfg, stdout, stderr, func(a *app) {
		fwd := a.addrOf("tcp", 0)
		fmt.Fprintf(stdout, "sluice demo\n")
		fmt.Fprintf(stdout, "  echo upstream (in-process)  %s\n", echo.Addr())
		fmt.Fprintf(stdout, "  TCP forwarder               %s -> %s\n", fwd, echo.Addr())
		if a.metricsL != nil {
			fmt.Fprintf(stdout, "  metrics                     http://%s%s\n", a.metricsL.Addr(), cfg.Metrics.Path)
		}
		var udpFwd string
		if udpEcho != nil && a.addrOf("udp", 0) != "" {
			udpFwd = a.addrOf("udp", 0)
			fmt.Fprintf(stdout, "  UDP echo upstream           %s\n", udpEcho.LocalAddr())
			fmt.Fprintf(stdout, "  UDP forwarder               %s -> %s\n", udpFwd, udpEcho.LocalAddr())
		}
		var web string
		if len(origins) > 0 && a.addrOf("http", 0) != "" {
			web = a.addrOf("http", 0)
			for i, l := range origins {
				fmt.Fprintf(stdout, "  HTTP origin %c (in-process)  %s\n", 'A'+i%26, l.Addr())
			}
			fmt.Fprintf(stdout, "  HTTP load balancer          %s -> %d origins, round robin\n", web, len(origins))
		}
		fmt.Fprintf(stdout, "try:\n  echo hello | nc -q1 %s %s\n", hostOf(fwd), portOf(fwd))
		if udpFwd != "" {
			fmt.Fprintf(stdout, "  echo hello | nc -u -q1 %s %s\n", hostOf(udpFwd), portOf(udpFwd))
		}
		if web != "" {
			fmt.Fprintf(stdout, "  curl -s http://%s/ ; curl -s http://%s/    # origin A, then B\n", web, web)
		}
		if https := a.addrOf("http", 1); https != "" && caFile != "" {
			fmt.Fprintf(stdout, "  curl -s --cacert %s https://%s/    # HTTPS, certificate made at start\n", caFile, https)
		}
		if a.metricsL != nil {
			fmt.Fprintf(stdout, "  curl -s http://%s%s | grep -E 'sluice_(tcp|http)_'\n", a.metricsL.Addr(), cfg.Metrics.Path)
		}
		fmt.Fprintf(stdout, "Ctrl-C stops it (open connections drain first).\n")
		if ready != nil {
			ready(a)
		}
	})
}

// addDemoHTTPS adds an HTTPS copy of the demo's HTTP load balancer, port
// 6443 on the same host (or a free port when the first listens on port
// 0), with a certificate for localhost and 127.0.0.1 made now by a CA of
// its own. It returns the CA's file (for curl --cacert) and a cleanup.
func addDemoHTTPS(cfg *Config) (string, func(), error) {
	if len(cfg.HTTP) == 0 {
		return "", func() {}, nil
	}
	dir, err := os.MkdirTemp("", "sluice-demo-tls")
	if err != nil {
		return "", nil, err
	}
	cleanup := func() { os.RemoveAll(dir) }
	ca, err := testcert.NewCA(dir, "sluice-demo")
	if err != nil {
		cleanup()
		return "", nil, err
	}
	pair, err := ca.Server("localhost", "127.0.0.1")
	if err != nil {
		cleanup()
		return "", nil, err
	}
	h := *cfg.HTTP[0]
	h.Name = h.Name + "-https"
	port := "6443"
	if portOf(h.Listen[0].Address) == "0" {
		port = "0"
	}
	h.Listen = []Addr{{Network: "tcp", Address: net.JoinHostPort(hostOf(h.Listen[0].Address), port)}}
	h.TLS = &TLSConfig{
		Server: transport.ServerTLS{
			Certificates: []transport.CertFiles{{Cert: pair.CertFile, Key: pair.KeyFile}},
			ALPN:         []string{"http/1.1"},
			MinVersion:   tls.VersionTLS12,
		},
		HandshakeTimeout: shell.DefaultHandshakeTimeout,
	}
	cfg.HTTP = append(cfg.HTTP, &h)
	return ca.CertFile, cleanup, nil
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

// demoOrigin is an HTTP origin that answers every request with
// "hello from origin NAME".
func demoOrigin(name string) *http.Server {
	body := []byte("hello from origin " + name + "\n")
	return &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.Write(body)
		}),
		ReadHeaderTimeout: 10 * time.Second,
	}
}

// serveDemoOrigin serves srv on l until srv is closed.
func serveDemoOrigin(srv *http.Server, l net.Listener, wg *sync.WaitGroup) {
	defer wg.Done()
	srv.Serve(l)
}
