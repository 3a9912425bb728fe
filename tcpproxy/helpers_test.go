package tcpproxy

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"syscall"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluice-proxy/sluice/internal/promtest"
	"github.com/sluice-proxy/sluice/internal/testserve"
	"github.com/sluice-proxy/sluice/lb"
)

// upstream is an in-process backend on 127.0.0.1:0. Each accepted
// connection is handed to its handler; accepted connections are reported on
// conns.
type upstream struct {
	addr  string
	conns chan net.Conn
}

func newUpstream(t *testing.T, handler func(net.Conn)) *upstream {
	t.Helper()
	u := &upstream{conns: make(chan net.Conn, 64)}
	u.addr = testserve.TCP(t, func(c net.Conn) {
		select {
		case u.conns <- c:
		default:
		}
		handler(c)
	})
	return u
}

// echo copies the connection back to itself and half-closes after EOF.
func echo(c net.Conn) {
	io.Copy(c, c)
	c.(*net.TCPConn).CloseWrite()
	io.Copy(io.Discard, c)
}

// tagger writes its tag and closes: which backend served the connection.
func tagger(tag string) func(net.Conn) {
	return func(c net.Conn) {
		c.Write([]byte(tag))
	}
}

// harness is a running Proxy on 127.0.0.1:0 with its own metrics registry.
type harness struct {
	p    *Proxy
	addr string
	reg  *prometheus.Registry
	done chan error
}

func startProxy(t *testing.T, cfg Config) *harness {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return startProxyOn(t, cfg, ln)
}

// startProxyOn is startProxy serving ln, which may be any net.Listener (a
// vstream.Listener for virtual streams).
func startProxyOn(t *testing.T, cfg Config, ln net.Listener) *harness {
	t.Helper()
	reg := prometheus.NewRegistry()
	m, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Name == "" {
		cfg.Name = "test"
	}
	cfg.Metrics = m
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	p, err := New(cfg)
	if err != nil {
		ln.Close()
		t.Fatal(err)
	}
	h := &harness{p: p, addr: ln.Addr().String(), reg: reg, done: make(chan error, 1)}
	go func() { h.done <- p.Serve(context.Background(), ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithCancel(context.Background())
		cancel() // no grace: close everything left
		p.Shutdown(ctx)
		if err := <-h.done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return h
}

func balancer(t *testing.T, policy lb.Policy, addrs ...string) *lb.Balancer {
	t.Helper()
	var bs []lb.BackendConfig
	for _, a := range addrs {
		bs = append(bs, lb.BackendConfig{Addr: a})
	}
	b, err := lb.New(bs, policy)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func dial(t *testing.T, addr string) *net.TCPConn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c.(*net.TCPConn)
}

// readAll reads c until the proxy closes it: EOF, or a reset when the proxy
// closed with our bytes unread.
func readAll(t *testing.T, c net.Conn) []byte {
	t.Helper()
	b, err := io.ReadAll(c)
	if err != nil && !errors.Is(err, net.ErrClosed) && !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("read: %v", err)
	}
	return b
}

// metric returns the sum of the series name{labels}, or 0 when absent.
func (h *harness) metric(t *testing.T, name string, labels map[string]string) float64 {
	t.Helper()
	pairs := make([]string, 0, 2*len(labels))
	for k, v := range labels {
		pairs = append(pairs, k, v)
	}
	return promtest.Sum(t, h.reg, name, pairs...)
}

func payload(n int, seed byte) []byte {
	b := make([]byte, n)
	x := uint32(seed) + 1
	for i := range b {
		x = x*1664525 + 1013904223
		b[i] = byte(x >> 24)
	}
	return b
}
