//go:build linux

package udpproxy

import (
	"context"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluice-proxy/sluice/internal/promtest"
	"github.com/sluice-proxy/sluice/lb"
)

// safety bounds a wait that should end at once; it fails a broken test
// instead of hanging it, and is no timing assertion.
const safety = 10 * time.Second

// echoServer is an in-process UDP upstream on 127.0.0.1:0: it echoes every
// datagram back to its sender, after tag when one is set, and reports what
// it received on got.
type echoServer struct {
	conn *net.UDPConn
	addr string
	tag  []byte
	got  chan []byte
	wg   sync.WaitGroup
}

func newEcho(t *testing.T, tag string) *echoServer {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	e := &echoServer{conn: c, addr: c.LocalAddr().String(), tag: []byte(tag), got: make(chan []byte, 4096)}
	e.wg.Add(1)
	go e.serve()
	t.Cleanup(func() {
		c.Close()
		e.wg.Wait()
	})
	return e
}

func (e *echoServer) serve() {
	defer e.wg.Done()
	buf := make([]byte, 65536)
	for {
		n, from, err := e.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			return
		}
		d := append([]byte(nil), buf[:n]...)
		select {
		case e.got <- d:
		default:
		}
		out := append(append([]byte(nil), e.tag...), d...)
		e.conn.WriteToUDPAddrPort(out, from)
	}
}

// logSink is a slog.Handler that hands every record to the test.
type logSink struct {
	mu      sync.Mutex
	records []logRecord
	ch      chan logRecord
}

type logRecord struct {
	msg   string
	attrs map[string]string
}

func newLogSink() *logSink { return &logSink{ch: make(chan logRecord, 100000)} }

func (l *logSink) Enabled(context.Context, slog.Level) bool { return true }
func (l *logSink) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *logSink) WithGroup(string) slog.Handler            { return l }
func (l *logSink) Handle(_ context.Context, r slog.Record) error {
	rec := logRecord{msg: r.Message, attrs: map[string]string{}}
	r.Attrs(func(a slog.Attr) bool {
		rec.attrs[a.Key] = a.Value.String()
		return true
	})
	l.mu.Lock()
	l.records = append(l.records, rec)
	l.mu.Unlock()
	select {
	case l.ch <- rec:
	default:
	}
	return nil
}

// next waits for the next record whose message is msg.
func (l *logSink) next(t *testing.T, msg string) logRecord {
	t.Helper()
	timer := time.NewTimer(safety)
	defer timer.Stop()
	for {
		select {
		case r := <-l.ch:
			if r.msg == msg {
				return r
			}
		case <-timer.C:
			t.Fatalf("no %q log record", msg)
		}
	}
}

// harness is a running Proxy on 127.0.0.1:0 with its own registry and log.
type harness struct {
	p    *Proxy
	reg  *prometheus.Registry
	log  *logSink
	addr string // the first listen address
	done chan error
	once sync.Once
}

// clock is a settable clock for idle expiry.
type clock struct{ ns atomic.Int64 }

func (c *clock) now() int64              { return c.ns.Load() }
func (c *clock) advance(d time.Duration) { c.ns.Add(int64(d)) }

func startProxy(t *testing.T, cfg Config, clk *clock) *harness {
	t.Helper()
	h := &harness{reg: prometheus.NewRegistry(), log: newLogSink(), done: make(chan error, 1)}
	m, err := NewMetrics(h.reg)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Name == "" {
		cfg.Name = "test"
	}
	if cfg.Listen == nil {
		cfg.Listen = []string{"127.0.0.1:0"}
	}
	cfg.Metrics = m
	cfg.Logger = slog.New(h.log)
	if h.p, err = New(cfg); err != nil {
		t.Fatal(err)
	}
	if clk != nil {
		h.p.now = clk.now
	}
	if err := h.p.Listen(); err != nil {
		t.Fatal(err)
	}
	h.addr = h.p.Addrs()[0].String()
	go func() { h.done <- h.p.Serve(context.Background()) }()
	select {
	case <-h.p.started:
	case err := <-h.done:
		t.Fatalf("Serve returned early: %v", err)
	}
	t.Cleanup(func() { h.stop(t) })
	return h
}

func (h *harness) stop(t *testing.T) {
	h.once.Do(func() { h.shutdown(t) })
}

func (h *harness) shutdown(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), safety)
	defer cancel()
	if err := h.p.Shutdown(ctx); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	select {
	case err := <-h.done:
		if err != nil {
			t.Errorf("Serve: %v", err)
		}
	case <-ctx.Done():
		t.Errorf("Serve did not return")
	}
}

// metric returns the sum of the series name{labels} (0 when absent).
func (h *harness) metric(t *testing.T, name string, labels ...string) float64 {
	t.Helper()
	return promtest.Sum(t, h.reg, name, labels...)
}

// sessions returns the number of sessions the workers hold, asking them.
func (h *harness) sessions() int {
	var mu sync.Mutex
	n := 0
	h.p.do(func(w *worker) {
		mu.Lock()
		n += len(w.table)
		mu.Unlock()
	})
	return n
}

// sweep runs idle expiry on every worker at the clock's current time.
func (h *harness) sweep() {
	h.p.do(func(w *worker) {
		w.now = w.p.now()
		w.expire()
	})
}

// dial opens a client socket from local (nil: any port on 127.0.0.1) to addr.
func dial(t *testing.T, local *net.UDPAddr, addr string) *net.UDPConn {
	t.Helper()
	ra, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.DialUDP("udp", local, ra)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// roundTrip sends b and returns the reply.
func roundTrip(t *testing.T, c *net.UDPConn, b []byte) []byte {
	t.Helper()
	if _, err := c.Write(b); err != nil {
		t.Fatalf("write: %v", err)
	}
	return read(t, c)
}

// read returns the next datagram on c.
func read(t *testing.T, c *net.UDPConn) []byte {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(safety))
	buf := make([]byte, 65536)
	n, err := c.Read(buf)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return buf[:n]
}

// closedPort returns a loopback UDP address nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	addr := c.LocalAddr().String()
	c.Close()
	return addr
}

// loopback returns 127.0.0.n as a UDP address with port 0.
func loopback(n int) *net.UDPAddr {
	return &net.UDPAddr{IP: net.IPv4(127, byte(n>>16), byte(n>>8), byte(n))}
}

func backends(addrs ...string) []lb.BackendConfig {
	var out []lb.BackendConfig
	for _, a := range addrs {
		out = append(out, lb.BackendConfig{Addr: a})
	}
	return out
}

func mustPrefix(s string) netip.Prefix { return netip.MustParsePrefix(s) }
