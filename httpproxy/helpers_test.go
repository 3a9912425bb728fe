package httpproxy

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluice-proxy/sluice/fdpoll"
	"github.com/sluice-proxy/sluice/internal/promtest"
	"github.com/sluice-proxy/sluice/internal/testserve"
)

// safety bounds waits that should end at once; it fails a broken test
// instead of hanging it and is no timing assertion.
const safety = 10 * time.Second

// origin is an in-process net/http upstream on 127.0.0.1:0 that counts the
// connections it accepted.
type origin struct {
	addr  string
	conns atomic.Int64
	srv   *http.Server
}

func newOrigin(t *testing.T, h http.Handler) *origin {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	o := &origin{addr: ln.Addr().String()}
	o.srv = &http.Server{Handler: h, ConnState: func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			o.conns.Add(1)
		}
	}}
	done := make(chan struct{})
	go func() {
		defer close(done)
		o.srv.Serve(ln)
	}()
	t.Cleanup(func() {
		o.srv.Close()
		<-done
	})
	return o
}

// rawOrigin is an upstream on 127.0.0.1:0 whose every connection is served
// by fn; it is for upstreams that misbehave.
func rawOrigin(t *testing.T, fn func(c net.Conn)) string {
	t.Helper()
	return testserve.TCP(t, fn)
}

// static is a Proxy that sends every request to one peer.
type static struct{ peer *Peer }

func (p static) UpstreamPeer(context.Context, *Session) (*Peer, error) { return p.peer, nil }

// proxyHarness is a Service serving on 127.0.0.1:0.
type proxyHarness struct {
	svc  *Service
	addr string
	reg  *prometheus.Registry
	done chan error
	logs chan map[string]string // access-log lines, written after a request's metrics
}

// logSink is a slog.Handler that hands each record's attributes to a
// channel.
type logSink struct{ ch chan map[string]string }

func (l logSink) Enabled(context.Context, slog.Level) bool { return true }
func (l logSink) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l logSink) WithGroup(string) slog.Handler            { return l }
func (l logSink) Handle(_ context.Context, r slog.Record) error {
	m := map[string]string{"msg": r.Message}
	r.Attrs(func(a slog.Attr) bool {
		m[a.Key] = a.Value.String()
		return true
	})
	select {
	case l.ch <- m:
	default:
	}
	return nil
}

// request waits for the access-log line of the next finished request:
// its metrics are recorded by then.
func (h *proxyHarness) request(t *testing.T) map[string]string {
	t.Helper()
	for {
		select {
		case m := <-h.logs:
			if m["msg"] == "http request" {
				return m
			}
		case <-time.After(safety):
			t.Fatal("no request was logged")
		}
	}
}

// testPoller returns an fdpoll.Poller closed at the end of the test.
// SLUICE_TEST_FDPOLL=1 runs every startService test with one (.ci/run
// does), so the whole suite covers both ways of serving sockets.
func testPoller(t *testing.T) *fdpoll.Poller {
	t.Helper()
	pl, err := fdpoll.New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pl.Close() })
	return pl
}

func startService(t *testing.T, p Proxy, cfg Config) *proxyHarness {
	t.Helper()
	reg := prometheus.NewRegistry()
	m, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Metrics == nil {
		cfg.Metrics = m
	}
	logs := make(chan map[string]string, 1000)
	if cfg.Logger == nil {
		cfg.Logger = slog.New(logSink{logs})
		cfg.AccessLog = true
	}
	if cfg.Poller == nil && os.Getenv("SLUICE_TEST_FDPOLL") != "" {
		cfg.Poller = testPoller(t)
	}
	svc, err := New(p, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h := &proxyHarness{svc: svc, addr: ln.Addr().String(), reg: reg, done: make(chan error, 1), logs: logs}
	go func() { h.done <- svc.Serve(context.Background(), ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), safety)
		defer cancel()
		if err := svc.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if err := <-h.done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return h
}

// metric returns the sum of the series name{labels} (0 when absent).
func (h *proxyHarness) metric(t *testing.T, name string, labels ...string) float64 {
	t.Helper()
	return promtest.Sum(t, h.reg, name, labels...)
}

// client is a raw client connection to the proxy.
type client struct {
	t *testing.T
	c net.Conn
	r *bufio.Reader
}

func dialProxy(t *testing.T, addr string) *client {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(safety))
	t.Cleanup(func() { c.Close() })
	return &client{t: t, c: c, r: bufio.NewReader(c)}
}

func (c *client) send(s string) {
	c.t.Helper()
	if _, err := io.WriteString(c.c, s); err != nil {
		c.t.Fatal(err)
	}
}

// response reads one response (for a request with method).
func (c *client) response(method string) (*http.Response, string) {
	c.t.Helper()
	resp, err := http.ReadResponse(c.r, &http.Request{Method: method})
	if err != nil {
		c.t.Fatalf("reading response: %v", err)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatalf("reading body: %v", err)
	}
	resp.Body.Close()
	return resp, string(b)
}

// closed reports whether the proxy closed the connection (EOF next).
func (c *client) closed() bool {
	c.t.Helper()
	_, err := c.r.ReadByte()
	if err == nil {
		return false
	}
	return errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || isReset(err)
}

func isReset(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && !op.Timeout()
}
