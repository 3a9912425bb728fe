package tcpproxy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/sluice-proxy/sluice/internal/testserve"
	"github.com/sluice-proxy/sluice/lb"
)

// TestRelayHalfClose sends 2 MiB up, half-closes, and gets 3 MiB back after
// the upstream has read everything: both directions byte-exact, the
// half-close carried across, and the byte counters exact.
func TestRelayHalfClose(t *testing.T) {
	up := payload(2<<20, 1)
	down := payload(3<<20, 2)
	got := make(chan []byte, 1)
	u := newUpstream(t, func(c net.Conn) {
		b, _ := io.ReadAll(c) // returns at the client's half-close
		got <- b
		c.Write(down)
	})
	h := startProxy(t, Config{Balancer: balancer(t, lb.RoundRobin, u.addr)})
	c := dial(t, h.addr)
	go func() {
		c.Write(up)
		c.CloseWrite()
	}()
	back := readAll(t, c)
	if b := <-got; !bytes.Equal(b, up) {
		t.Fatalf("upstream got %d bytes, want %d byte-exact", len(b), len(up))
	}
	if !bytes.Equal(back, down) {
		t.Fatalf("client got %d bytes, want %d byte-exact", len(back), len(down))
	}
	c.Close()
	waitIdle(t, h)
	if v := h.metric(t, "sluice_tcp_bytes_total", map[string]string{"upstream": u.addr, "direction": "upstream"}); v != float64(len(up)) {
		t.Errorf("bytes upstream = %v, want %d", v, len(up))
	}
	if v := h.metric(t, "sluice_tcp_bytes_total", map[string]string{"upstream": u.addr, "direction": "downstream"}); v != float64(len(down)) {
		t.Errorf("bytes downstream = %v, want %d", v, len(down))
	}
	if v := h.metric(t, "sluice_tcp_connections_total", nil); v != 1 {
		t.Errorf("connections_total = %v, want 1", v)
	}
}

// waitIdle waits until the proxy has no connection in flight: Shutdown with
// no deadline returns exactly then. The harness is unusable afterwards.
func waitIdle(t *testing.T, h *harness) {
	t.Helper()
	if err := h.p.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// TestServerFirst: the upstream speaks first; the client sends nothing and
// still gets the greeting, with the PROXY header written on connect.
func TestServerFirst(t *testing.T) {
	hdr := make(chan string, 1)
	u := newUpstream(t, func(c net.Conn) {
		buf := make([]byte, 256)
		n, _ := c.Read(buf) // the PROXY v1 line arrives before any client byte
		hdr <- string(buf[:n])
		c.Write([]byte("220 ready\r\n"))
		io.Copy(io.Discard, c)
	})
	h := startProxy(t, Config{Balancer: balancer(t, lb.RoundRobin, u.addr), ProxyOut: 1})
	c := dial(t, h.addr)
	line := make([]byte, 11)
	if _, err := io.ReadFull(c, line); err != nil {
		t.Fatal(err)
	}
	if string(line) != "220 ready\r\n" {
		t.Fatalf("greeting %q", line)
	}
	cport := c.LocalAddr().(*net.TCPAddr).Port
	_, pport, _ := net.SplitHostPort(h.addr)
	want := fmt.Sprintf("PROXY TCP4 127.0.0.1 127.0.0.1 %d %s\r\n", cport, pport)
	if got := <-hdr; got != want {
		t.Fatalf("PROXY header %q, want %q", got, want)
	}
}

// served dials the proxy n times and returns which backend tag answered
// each connection, in order.
func served(t *testing.T, addr string, n int) []string {
	t.Helper()
	var tags []string
	for range n {
		c := dial(t, addr)
		tags = append(tags, string(readAll(t, c)))
		c.Close()
	}
	return tags
}

func TestBalanceRoundRobin(t *testing.T) {
	a, b := newUpstream(t, tagger("a")), newUpstream(t, tagger("b"))
	h := startProxy(t, Config{Balancer: balancer(t, lb.RoundRobin, a.addr, b.addr)})
	got := fmt.Sprint(served(t, h.addr, 6))
	if got != "[a b a b a b]" && got != "[b a b a b a]" {
		t.Fatalf("round robin served %s", got)
	}
}

func TestBalanceRandomUsesAll(t *testing.T) {
	a, b := newUpstream(t, tagger("a")), newUpstream(t, tagger("b"))
	h := startProxy(t, Config{Balancer: balancer(t, lb.Random, a.addr, b.addr)})
	seen := map[string]int{}
	for _, tag := range served(t, h.addr, 64) {
		seen[tag]++
	}
	// Each connection closes before the next, so P2C sees equal load and
	// picks at random: missing one backend in 64 tries has probability 2^-63.
	if seen["a"] == 0 || seen["b"] == 0 {
		t.Fatalf("random served %v", seen)
	}
}

func TestBalanceHashSticks(t *testing.T) {
	a, b, c := newUpstream(t, tagger("a")), newUpstream(t, tagger("b")), newUpstream(t, tagger("c"))
	h := startProxy(t, Config{Balancer: balancer(t, lb.Hash, a.addr, b.addr, c.addr)})
	tags := served(t, h.addr, 10)
	for _, tag := range tags {
		if tag != tags[0] {
			t.Fatalf("hash by client IP moved between backends: %v", tags)
		}
	}
}

func TestBalanceLeastConn(t *testing.T) {
	hold := make(chan struct{})
	defer close(hold)
	handler := func(tag string) func(net.Conn) {
		return func(c net.Conn) {
			c.Write([]byte(tag))
			select {
			case <-hold:
			case <-readEOF(c):
			}
		}
	}
	a, b := newUpstream(t, handler("a")), newUpstream(t, handler("b"))
	closed := make(chan struct{}, 8)
	h := startProxy(t, Config{
		Balancer:  balancer(t, lb.LeastConn, a.addr, b.addr),
		Logger:    closedLogger(closed),
		AccessLog: true,
	})
	// Two held connections go to different backends; when the first closes,
	// its backend is the idle one and takes the next connection every time.
	first := dial(t, h.addr)
	tag1 := readTag(t, first)
	second := dial(t, h.addr)
	tag2 := readTag(t, second)
	if tag1 == tag2 {
		t.Fatalf("least_conn sent both held connections to %s", tag1)
	}
	first.Close()
	<-closed
	for i := range 3 {
		c := dial(t, h.addr)
		if tag := readTag(t, c); tag != tag1 {
			t.Fatalf("round %d: least_conn chose %s, want the idle %s", i, tag, tag1)
		}
		c.Close()
		<-closed
	}
}

// closedLogger signals on ch for every access-log line, which the proxy
// writes once a connection is over and its backend released.
func closedLogger(ch chan<- struct{}) *slog.Logger {
	return slog.New(&signalHandler{msg: "connection closed", ch: ch})
}

type signalHandler struct {
	msg string
	ch  chan<- struct{}
}

func (h *signalHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *signalHandler) Handle(_ context.Context, r slog.Record) error {
	if r.Message == h.msg {
		h.ch <- struct{}{}
	}
	return nil
}
func (h *signalHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *signalHandler) WithGroup(string) slog.Handler      { return h }

func readTag(t *testing.T, c net.Conn) string {
	t.Helper()
	b := make([]byte, 1)
	if _, err := io.ReadFull(c, b); err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func readEOF(c net.Conn) <-chan struct{} {
	ch := make(chan struct{})
	go func() {
		io.Copy(io.Discard, c)
		close(ch)
	}()
	return ch
}

// TestFailoverPastDeadBackend: the first backend refuses connections; every
// client still reaches the live one, and the failures are counted.
func TestFailoverPastDeadBackend(t *testing.T) {
	dead := deadAddr(t)
	live := newUpstream(t, tagger("live"))
	h := startProxy(t, Config{
		Balancer: balancer(t, lb.RoundRobin, dead, live.addr),
		Failover: lb.Failover{Tries: 2},
	})
	for i, tag := range served(t, h.addr, 4) {
		if tag != "live" {
			t.Fatalf("connection %d got %q", i, tag)
		}
	}
	if v := h.metric(t, "sluice_tcp_upstream_connect_errors_total", map[string]string{"upstream": dead}); v == 0 {
		t.Errorf("no connect errors counted for the dead backend")
	}
}

// TestAllBackendsDead: the client is closed and the failure is counted.
func TestAllBackendsDead(t *testing.T) {
	h := startProxy(t, Config{Balancer: balancer(t, lb.RoundRobin, deadAddr(t))})
	c := dial(t, h.addr)
	if b := readAll(t, c); len(b) != 0 {
		t.Fatalf("got %q from a proxy without upstreams", b)
	}
	waitIdle(t, h)
	if v := h.metric(t, "sluice_tcp_errors_total", map[string]string{"reason": "connect_failed"}); v != 1 {
		t.Errorf("errors{connect_failed} = %v, want 1", v)
	}
}

// deadAddr returns a loopback address nothing listens on.
func deadAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// TestHealthChecksOutAndBack: active checks take a dead backend out and put
// it back when it listens again; the gauge follows.
func TestHealthChecksOutAndBack(t *testing.T) {
	a := newUpstream(t, tagger("a"))
	bl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	baddr := bl.Addr().String()
	events := make(chan bool, 16)
	var p *Proxy
	bal, err := lb.New([]lb.BackendConfig{{Addr: a.addr}, {Addr: baddr}}, lb.RoundRobin,
		lb.OnHealthChange(func(be *lb.Backend, healthy bool, reason string) {
			p.HealthChanged(be, healthy, reason)
			if be.Addr == baddr {
				events <- healthy
			}
		}))
	if err != nil {
		t.Fatal(err)
	}
	h := startProxy(t, Config{Balancer: bal})
	p = h.p
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		bal.RunHealthChecks(ctx, lb.HealthCheck{Interval: 5 * time.Millisecond, Timeout: 100 * time.Millisecond, Rise: 2, Fall: 2})
	}()
	defer func() { cancel(); <-done }()

	bl.Close()
	if healthy := <-events; healthy {
		t.Fatal("first event: up, want down")
	}
	if v := h.metric(t, "sluice_upstream_healthy", map[string]string{"upstream": baddr}); v != 0 {
		t.Errorf("healthy gauge %v while down", v)
	}
	for i, tag := range served(t, h.addr, 4) {
		if tag != "a" {
			t.Fatalf("connection %d went to %q while b is down", i, tag)
		}
	}
	b := listenAt(t, baddr, tagger("b"))
	if healthy := <-events; !healthy {
		t.Fatal("second event: down, want up")
	}
	if v := h.metric(t, "sluice_upstream_healthy", map[string]string{"upstream": baddr}); v != 1 {
		t.Errorf("healthy gauge %v after recovery", v)
	}
	seen := map[string]bool{}
	for _, tag := range served(t, h.addr, 4) {
		seen[tag] = true
	}
	if !seen["b"] {
		t.Fatalf("b never served after recovery: %v", seen)
	}
	_ = b
}

// listenAt starts an upstream on a fixed address.
func listenAt(t *testing.T, addr string, handler func(net.Conn)) *upstream {
	t.Helper()
	var ln net.Listener
	var err error
	for range 100 { // the port was ours a moment ago; retry briefly if TIME_WAIT interferes
		if ln, err = net.Listen("tcp", addr); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	ln.Close()
	u := newUpstreamOn(t, addr, handler)
	return u
}

func newUpstreamOn(t *testing.T, addr string, handler func(net.Conn)) *upstream {
	t.Helper()
	return &upstream{addr: testserve.TCPOn(t, addr, handler), conns: make(chan net.Conn, 64)}
}

// TestGracefulDrain: Shutdown stops accepting at once, lets an open
// connection finish its exchange, and returns when it closes.
func TestGracefulDrain(t *testing.T) {
	u := newUpstream(t, echo)
	h := startProxy(t, Config{Balancer: balancer(t, lb.RoundRobin, u.addr)})
	c := dial(t, h.addr)
	roundTrip(t, c, "before")
	shut := make(chan error, 1)
	go func() { shut <- h.p.Shutdown(context.Background()) }()
	<-h.done // the listener is closed: Serve has returned
	h.done <- nil
	if _, err := net.Dial("tcp", h.addr); err == nil {
		t.Fatal("a new connection was accepted during drain")
	}
	roundTrip(t, c, "during drain")
	select {
	case err := <-shut:
		t.Fatalf("Shutdown returned %v with a connection open", err)
	default:
	}
	c.CloseWrite()
	readAll(t, c)
	if err := <-shut; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
}

// TestDrainGraceExpires: when the grace period runs out, open connections
// are closed and Shutdown reports the deadline.
func TestDrainGraceExpires(t *testing.T) {
	u := newUpstream(t, echo)
	h := startProxy(t, Config{Balancer: balancer(t, lb.RoundRobin, u.addr)})
	c := dial(t, h.addr)
	roundTrip(t, c, "x")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := h.p.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown = %v, want DeadlineExceeded", err)
	}
	if b := readAll(t, c); len(b) != 0 {
		t.Fatalf("read %q after forced close", b)
	}
}

func roundTrip(t *testing.T, c net.Conn, msg string) {
	t.Helper()
	if _, err := c.Write([]byte(msg)); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, len(msg))
	if _, err := io.ReadFull(c, b); err != nil {
		t.Fatal(err)
	}
	if string(b) != msg {
		t.Fatalf("echo %q, want %q", b, msg)
	}
}

// TestIdleTimeout closes a connection on which nothing moves.
func TestIdleTimeout(t *testing.T) {
	u := newUpstream(t, echo)
	h := startProxy(t, Config{Balancer: balancer(t, lb.RoundRobin, u.addr), IdleTimeout: 30 * time.Millisecond})
	c := dial(t, h.addr)
	roundTrip(t, c, "hi")
	if b := readAll(t, c); len(b) != 0 {
		t.Fatalf("read %q", b)
	}
	waitIdle(t, h)
	if v := h.metric(t, "sluice_tcp_errors_total", map[string]string{"reason": "idle_timeout"}); v != 1 {
		t.Errorf("errors{idle_timeout} = %v, want 1", v)
	}
}

// TestLocalResourceBlamesNoUpstream: dials that fail because sluice is out
// of descriptors are counted as local_resource, not as the upstream's
// connect errors, and never take the upstream down; once descriptors are
// back, the next connection is relayed.
func TestLocalResourceBlamesNoUpstream(t *testing.T) {
	up := newUpstream(t, echo)
	var starved atomic.Bool
	starved.Store(true)
	dialer := &net.Dialer{}
	dialFn := func(ctx context.Context, addr string) (net.Conn, error) {
		if starved.Load() {
			return nil, &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("socket", syscall.EMFILE)}
		}
		return dialer.DialContext(ctx, "tcp", addr)
	}
	h := startProxy(t, Config{Balancer: balancer(t, lb.RoundRobin, up.addr), Dial: dialFn})
	for range 5 { // past the passive threshold (3)
		if b := readAll(t, dial(t, h.addr)); len(b) != 0 {
			t.Fatalf("got %q without an upstream connection", b)
		}
	}
	starved.Store(false)
	c := dial(t, h.addr)
	c.Write([]byte("back"))
	c.CloseWrite()
	if b := readAll(t, c); string(b) != "back" {
		t.Fatalf("after the shortage: got %q, want the echo (the upstream must still be up)", b)
	}
	waitIdle(t, h)
	if v := h.metric(t, "sluice_tcp_errors_total", map[string]string{"reason": "local_resource"}); v != 5 {
		t.Errorf("errors{local_resource} = %v, want 5", v)
	}
	if v := h.metric(t, "sluice_tcp_upstream_connect_errors_total", nil); v != 0 {
		t.Errorf("upstream connect errors = %v, want 0: the upstream was never blamed", v)
	}
}
