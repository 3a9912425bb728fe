//go:build linux

package udpproxy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sluice-proxy/sluice/lb"
)

func TestManyConcurrentClients(t *testing.T) {
	a, b := newEcho(t, ""), newEcho(t, "")
	h := startProxy(t, Config{Upstreams: backends(a.addr, b.addr), Balance: "round_robin", Workers: 2}, nil)
	const clients, rounds = 40, 25
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for i := range clients {
		c := dial(t, nil, h.addr)
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 2048)
			for r := range rounds {
				msg := fmt.Appendf(nil, "client %d round %d %s", i, r, strings.Repeat("x", i*13))
				if _, err := c.Write(msg); err != nil {
					errs <- err
					return
				}
				c.SetReadDeadline(time.Now().Add(safety))
				n, err := c.Read(buf)
				if err != nil {
					errs <- fmt.Errorf("client %d round %d: %w", i, r, err)
					return
				}
				if !bytes.Equal(buf[:n], msg) {
					errs <- fmt.Errorf("client %d: got %q, want %q", i, buf[:n], msg)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got := h.metric(t, "sluice_udp_sessions_created_total"); got != clients {
		t.Errorf("sessions created = %v, want %d", got, clients)
	}
	if got := h.sessions(); got != clients {
		t.Errorf("sessions held = %d, want %d", got, clients)
	}
	for _, e := range []*echoServer{a, b} {
		if n := h.metric(t, "sluice_udp_upstream_sessions_active", "upstream", e.addr); n != clients/2 {
			t.Errorf("round robin gave %s %v sessions, want %d", e.addr, n, clients/2)
		}
	}
	h.stop(t) // publishes the counts of replies the clients may have read first
	var up, down float64
	for _, e := range []*echoServer{a, b} {
		up += h.metric(t, "sluice_udp_datagrams_total", "upstream", e.addr, "direction", "upstream")
		down += h.metric(t, "sluice_udp_datagrams_total", "upstream", e.addr, "direction", "downstream")
	}
	if up != clients*rounds || down != clients*rounds {
		t.Errorf("datagrams up %v down %v, want %d each", up, down, clients*rounds)
	}
}

func TestStickyByClientIP(t *testing.T) {
	tags := []string{"A:", "B:", "C:"}
	var addrs []string
	for _, tag := range tags {
		addrs = append(addrs, newEcho(t, tag).addr)
	}
	h := startProxy(t, Config{Upstreams: backends(addrs...)}, nil) // default balance: hash
	seen := map[string]bool{}
	for ip := 2; ip < 34; ip++ {
		var tag string
		// Two client ports from one IP, several datagrams each: one backend.
		for port := range 2 {
			c := dial(t, loopback(ip), h.addr)
			for r := range 3 {
				reply := string(roundTrip(t, c, fmt.Appendf(nil, "%d.%d.%d", ip, port, r)))
				if len(reply) < 2 {
					t.Fatalf("short reply %q", reply)
				}
				if tag == "" {
					tag = reply[:2]
				} else if reply[:2] != tag {
					t.Fatalf("client 127.0.0.%d moved from backend %s to %s", ip, tag, reply[:2])
				}
			}
		}
		seen[tag] = true
	}
	if len(seen) < 2 {
		t.Errorf("32 client IPs all hashed to %v", seen)
	}
}

func TestIdleExpiry(t *testing.T) {
	e := newEcho(t, "")
	clk := &clock{}
	h := startProxy(t, Config{Upstreams: backends(e.addr), IdleTimeout: 30 * time.Second, Workers: 1}, clk)
	c := dial(t, nil, h.addr)
	roundTrip(t, c, []byte("hello"))
	clk.advance(30*time.Second - 1)
	h.sweep()
	if n := h.sessions(); n != 1 {
		t.Fatalf("session closed before its idle timeout: %d held", n)
	}
	// Activity pushes the deadline back.
	roundTrip(t, c, []byte("again"))
	clk.advance(30*time.Second - 1)
	h.sweep()
	if n := h.sessions(); n != 1 {
		t.Fatalf("activity did not keep the session: %d held", n)
	}
	clk.advance(1)
	h.sweep()
	rec := h.log.next(t, "udp session closed")
	want := map[string]string{
		"reason": "expired", "client": c.LocalAddr().String(), "upstream": e.addr,
		"datagrams_up": "2", "bytes_up": "10", "datagrams_down": "2", "bytes_down": "10",
	}
	for k, v := range want {
		if rec.attrs[k] != v {
			t.Errorf("log %s = %q, want %q (%v)", k, rec.attrs[k], v, rec.attrs)
		}
	}
	if rec.attrs["duration"] != (60*time.Second - 1).String() {
		t.Errorf("duration = %s", rec.attrs["duration"])
	}
	if n := h.sessions(); n != 0 {
		t.Errorf("%d sessions held after expiry", n)
	}
	if v := h.metric(t, "sluice_udp_sessions_closed_total", "reason", "expired"); v != 1 {
		t.Errorf("expired = %v", v)
	}
	if v := h.metric(t, "sluice_udp_sessions_active"); v != 0 {
		t.Errorf("active = %v", v)
	}
	// The client comes back: a new session.
	roundTrip(t, c, []byte("back"))
	if v := h.metric(t, "sluice_udp_sessions_created_total"); v != 2 {
		t.Errorf("created = %v, want 2", v)
	}
}

func TestEvictionLRU(t *testing.T) {
	e := newEcho(t, "")
	h := startProxy(t, Config{Upstreams: backends(e.addr), MaxSessions: 4, Workers: 1}, nil)
	cs := make([]*net.UDPConn, 6)
	for i := range cs {
		cs[i] = dial(t, nil, h.addr)
	}
	for i := range 4 {
		roundTrip(t, cs[i], []byte("x"))
	}
	roundTrip(t, cs[0], []byte("touch")) // cs[1] is now the least recently active
	roundTrip(t, cs[4], []byte("x"))
	rec := h.log.next(t, "udp session closed")
	if rec.attrs["reason"] != "evicted" || rec.attrs["client"] != cs[1].LocalAddr().String() {
		t.Errorf("evicted %v, want client %s", rec.attrs, cs[1].LocalAddr())
	}
	roundTrip(t, cs[5], []byte("x"))
	rec = h.log.next(t, "udp session closed")
	if rec.attrs["client"] != cs[2].LocalAddr().String() {
		t.Errorf("evicted %s, want %s", rec.attrs["client"], cs[2].LocalAddr())
	}
	if n := h.sessions(); n != 4 {
		t.Errorf("%d sessions held, want 4", n)
	}
	if v := h.metric(t, "sluice_udp_sessions_closed_total", "reason", "evicted"); v != 2 {
		t.Errorf("evicted = %v, want 2", v)
	}
}

func TestFloodStaysBounded(t *testing.T) {
	e := newEcho(t, "")
	const maxSessions, clients = 8, 300
	h := startProxy(t, Config{Upstreams: backends(e.addr), MaxSessions: maxSessions, Workers: 2}, nil)
	for i := range clients {
		// Distinct source addresses: 127.0.x.y, one socket each, closed at once.
		c := dial(t, loopback(2+i), h.addr)
		roundTrip(t, c, []byte("flood"))
		c.Close()
	}
	if v := h.metric(t, "sluice_udp_sessions_created_total"); v != clients {
		t.Errorf("created = %v, want %d", v, clients)
	}
	held := h.metric(t, "sluice_udp_sessions_active")
	evicted := h.metric(t, "sluice_udp_sessions_closed_total", "reason", "evicted")
	if held > maxSessions || held+evicted != clients {
		t.Errorf("active %v + evicted %v, want ≤ %d + the rest of %d", held, evicted, maxSessions, clients)
	}
	// Nothing grows with the flood: table, slots, pooled structs and fds.
	h.p.do(func(w *worker) {
		live := len(w.slots) - len(w.freeSlots)
		if len(w.table) > w.quota || live != len(w.table) || w.n != len(w.table) || len(w.slots) > w.quota+1 || len(w.pool) > maxPooledSessions {
			t.Errorf("worker %d: table %d, live slots %d of %d, pool %d, quota %d", w.id, len(w.table), live, len(w.slots), len(w.pool), w.quota)
		}
	})
}

func TestUpstreamRefused(t *testing.T) {
	dead := closedPort(t)
	h := startProxy(t, Config{Upstreams: backends(dead), Workers: 1}, nil)
	c := dial(t, nil, h.addr)
	for i := range lb.DefaultFailThreshold {
		if _, err := c.Write([]byte("anyone?")); err != nil {
			t.Fatal(err)
		}
		rec := h.log.next(t, "udp session closed")
		if rec.attrs["reason"] != "upstream_refused" || rec.attrs["upstream"] != dead {
			t.Fatalf("attempt %d: %v", i, rec.attrs)
		}
	}
	if v := h.metric(t, "sluice_udp_sessions_closed_total", "reason", "upstream_refused"); v != lb.DefaultFailThreshold {
		t.Errorf("upstream_refused = %v, want %d", v, lb.DefaultFailThreshold)
	}
	// Passive health took the only backend out: no upstream for a new session.
	if _, err := c.Write([]byte("anyone?")); err != nil {
		t.Fatal(err)
	}
	rec := h.log.next(t, "udp datagrams dropped")
	if rec.attrs["reason"] != "no_upstream" {
		t.Errorf("drop %v", rec.attrs)
	}
	if v := h.metric(t, "sluice_udp_dropped_total", "reason", "no_upstream", "direction", "upstream"); v != 1 {
		t.Errorf("no_upstream drops = %v", v)
	}
	if v := h.metric(t, "sluice_udp_upstream_healthy", "upstream", dead); v != 0 {
		t.Errorf("healthy gauge = %v, want 0", v)
	}
}

func TestLargeAndTruncatedDatagrams(t *testing.T) {
	e := newEcho(t, "")
	t.Run("64KiB", func(t *testing.T) {
		h := startProxy(t, Config{Upstreams: backends(e.addr)}, nil)
		c := dial(t, nil, h.addr)
		for _, size := range []int{1, 1500, 9000, 65507} {
			msg := bytes.Repeat([]byte{byte(size)}, size)
			msg[0], msg[size-1] = 'a', 'z'
			if got := roundTrip(t, c, msg); !bytes.Equal(got, msg) {
				t.Errorf("size %d: got %d bytes back", size, len(got))
			}
		}
	})
	t.Run("over the buffer", func(t *testing.T) {
		h := startProxy(t, Config{Upstreams: backends(e.addr), MaxDatagramSize: 2048}, nil)
		c := dial(t, nil, h.addr)
		if _, err := c.Write(make([]byte, 2049)); err != nil {
			t.Fatal(err)
		}
		rec := h.log.next(t, "udp datagrams dropped")
		if rec.attrs["reason"] != "truncated" || rec.attrs["direction"] != "upstream" {
			t.Errorf("drop %v", rec.attrs)
		}
		msg := bytes.Repeat([]byte("k"), 2048)
		if got := roundTrip(t, c, msg); !bytes.Equal(got, msg) {
			t.Errorf("2048 bytes: got %d back", len(got))
		}
		if v := h.metric(t, "sluice_udp_dropped_total", "reason", "truncated"); v != 1 {
			t.Errorf("truncated = %v", v)
		}
		if v := h.metric(t, "sluice_udp_sessions_created_total"); v != 1 {
			t.Errorf("created = %v: a truncated datagram must not make a session", v)
		}
	})
	t.Run("reply over the buffer", func(t *testing.T) {
		big := newEcho(t, strings.Repeat("+", 100)) // replies 100 bytes longer
		h := startProxy(t, Config{Upstreams: backends(big.addr), MaxDatagramSize: 1000}, nil)
		c := dial(t, nil, h.addr)
		if _, err := c.Write(make([]byte, 950)); err != nil {
			t.Fatal(err)
		}
		rec := h.log.next(t, "udp datagrams dropped")
		if rec.attrs["reason"] != "truncated" || rec.attrs["direction"] != "downstream" {
			t.Errorf("drop %v", rec.attrs)
		}
	})
}

func TestZeroLengthDatagram(t *testing.T) {
	e := newEcho(t, "")
	h := startProxy(t, Config{Upstreams: backends(e.addr)}, nil)
	c := dial(t, nil, h.addr)
	for range 3 {
		if got := roundTrip(t, c, nil); len(got) != 0 {
			t.Fatalf("got %q", got)
		}
		if got := <-e.got; len(got) != 0 {
			t.Fatalf("upstream got %q", got)
		}
	}
	// Replies are counted after they are sent, so the client may read one
	// before it is counted; stopping the proxy publishes every count.
	h.stop(t)
	if v := h.metric(t, "sluice_udp_datagrams_total", "direction", "downstream"); v != 3 {
		t.Errorf("downstream datagrams = %v", v)
	}
}

func TestConfigErrors(t *testing.T) {
	ok := Config{Name: "x", Listen: []string{"127.0.0.1:0"}, Upstreams: backends("127.0.0.1:53")}
	tests := []struct {
		name string
		mod  func(*Config)
	}{
		{"no name", func(c *Config) { c.Name = "" }},
		{"no listen", func(c *Config) { c.Listen = nil }},
		{"bad listen", func(c *Config) { c.Listen = []string{"127.0.0.1"} }},
		{"listen twice", func(c *Config) { c.Listen = []string{"127.0.0.1:5353", "127.0.0.1:5353"} }},
		{"no upstreams", func(c *Config) { c.Upstreams = nil }},
		{"upstream without port", func(c *Config) { c.Upstreams = backends("127.0.0.1:0") }},
		{"bad balance", func(c *Config) { c.Balance = "fastest" }},
		{"proxy v1", func(c *Config) { c.ProxyOut = 1 }},
		{"proxy v3", func(c *Config) { c.ProxyOut = 3 }},
		{"negative idle", func(c *Config) { c.IdleTimeout = -1 }},
		{"negative sessions", func(c *Config) { c.MaxSessions = -1 }},
		{"huge datagrams", func(c *Config) { c.MaxDatagramSize = 70000 }},
		{"negative rate", func(c *Config) { c.Filter.SessionRatePerIP = -1 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ok
			tt.mod(&c)
			if _, err := New(c); !errors.Is(err, ErrInvalidConfig) {
				t.Errorf("New: %v, want ErrInvalidConfig", err)
			}
		})
	}
	if _, err := New(ok); err != nil {
		t.Errorf("valid config: %v", err)
	}
}

func TestShutdown(t *testing.T) {
	e := newEcho(t, "")
	t.Run("closes sessions", func(t *testing.T) {
		h := startProxy(t, Config{Upstreams: backends(e.addr), AccessLog: true}, nil)
		c := dial(t, nil, h.addr)
		roundTrip(t, c, []byte("x"))
		h.stop(t)
		rec := h.log.next(t, "udp session closed")
		if rec.attrs["reason"] != "shutdown" {
			t.Errorf("%v", rec.attrs)
		}
		if v := h.metric(t, "sluice_udp_sessions_active"); v != 0 {
			t.Errorf("active = %v", v)
		}
		// Everything is closed: the port can be bound again.
		l, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(h.p.Addrs()[0].(*net.UDPAddr).AddrPort()))
		if err != nil {
			t.Fatalf("port still bound: %v", err)
		}
		l.Close()
	})
	t.Run("before serve", func(t *testing.T) {
		p, err := New(Config{Name: "x", Listen: []string{"127.0.0.1:0"}, Upstreams: backends(e.addr)})
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Listen(); err != nil {
			t.Fatal(err)
		}
		addr := p.Addrs()[0].(*net.UDPAddr)
		if err := p.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
		if err := p.Serve(context.Background()); err != nil {
			t.Errorf("Serve after Shutdown: %v", err)
		}
		if err := p.Listen(); !errors.Is(err, net.ErrClosed) {
			t.Errorf("Listen after Shutdown: %v", err)
		}
		l, err := net.ListenUDP("udp", addr)
		if err != nil {
			t.Fatalf("port still bound: %v", err)
		}
		l.Close()
	})
	t.Run("context", func(t *testing.T) {
		p, err := New(Config{Name: "x", Listen: []string{"127.0.0.1:0"}, Upstreams: backends(e.addr)})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- p.Serve(ctx) }()
		<-p.started
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
}

func TestMultipleListenAddresses(t *testing.T) {
	e := newEcho(t, "")
	h := startProxy(t, Config{Listen: []string{"127.0.0.1:0", "127.0.0.1:0"}, Upstreams: backends(e.addr), Workers: 2}, nil)
	addrs := h.p.Addrs()
	if len(addrs) != 2 || addrs[0].String() == addrs[1].String() {
		t.Fatalf("Addrs = %v", addrs)
	}
	// One client socket talking to both addresses: two sessions, each
	// answering from its own address.
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	buf := make([]byte, 100)
	for round := range 2 {
		for i, a := range addrs {
			msg := fmt.Appendf(nil, "to %d round %d", i, round)
			if _, err := conn.WriteTo(msg, a); err != nil {
				t.Fatal(err)
			}
			conn.SetReadDeadline(time.Now().Add(safety))
			n, from, err := conn.ReadFrom(buf)
			if err != nil {
				t.Fatal(err)
			}
			if from.String() != a.String() || !bytes.Equal(buf[:n], msg) {
				t.Errorf("reply %q from %v, want %q from %v", buf[:n], from, msg, a)
			}
		}
	}
	if n := h.sessions(); n != 2 {
		t.Errorf("%d sessions, want 2", n)
	}
}

func TestWildcardRepliesFromDestination(t *testing.T) {
	e := newEcho(t, "")
	for _, listen := range []string{"0.0.0.0:0", "[::]:0"} {
		t.Run(listen, func(t *testing.T) {
			h := startProxy(t, Config{Listen: []string{listen}, Upstreams: backends(e.addr), ProxyOut: 2}, nil)
			port := h.p.Addrs()[0].(*net.UDPAddr).Port
			// A connected client accepts replies only from the address it
			// sent to; 127.0.0.1 would be the route's default source.
			c := dial(t, loopback(1), fmt.Sprintf("127.0.0.3:%d", port))
			roundTrip(t, c, []byte("where?")) // the echo returns header+payload
			hdr := <-e.got
			want := v2Header4([4]byte{127, 0, 0, 1}, [4]byte{127, 0, 0, 3}, c.LocalAddr().(*net.UDPAddr).Port, port)
			if !bytes.HasPrefix(hdr, want) {
				t.Errorf("header % x, want % x", hdr, want)
			}
		})
	}
}

func TestUpstreamSocketExhaustion(t *testing.T) {
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Setrlimit(unix.RLIMIT_NOFILE, &lim) })
	e := newEcho(t, "")
	h := startProxy(t, Config{Upstreams: backends(e.addr), Workers: 1}, nil)
	const room, clients = 3, 6
	cs := make([]*net.UDPConn, clients)
	for i := range cs {
		cs[i] = dial(t, nil, h.addr)
	}
	// Leave room for exactly three more descriptors: three sessions. The
	// limit bounds descriptor numbers, so count the free numbers below it.
	ents, err := os.ReadDir("/proc/self/fd") // its own descriptor is closed again
	if err != nil {
		t.Fatal(err)
	}
	open := map[int]bool{}
	for _, e := range ents {
		if _, err := os.Readlink("/proc/self/fd/" + e.Name()); err != nil {
			continue // ReadDir's own, closed since
		}
		n, _ := strconv.Atoi(e.Name())
		open[n] = true
	}
	limit, free := 0, 0
	for ; free < room || open[limit]; limit++ {
		if !open[limit] {
			free++
		}
	}
	low := lim
	low.Cur = uint64(limit)
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &low); err != nil {
		t.Fatal(err)
	}
	for i := range room {
		roundTrip(t, cs[i], []byte("fits"))
	}
	for i := room; i < clients; i++ {
		if _, err := cs[i].Write([]byte("no room")); err != nil {
			t.Fatal(err)
		}
		if rec := h.log.next(t, "udp datagrams dropped"); rec.attrs["reason"] != "upstream_socket" {
			t.Errorf("dropped for %v", rec.attrs)
		}
	}
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	// With descriptors back, the refused clients get sessions.
	for i := room; i < clients; i++ {
		roundTrip(t, cs[i], []byte("now"))
	}
	if v := h.metric(t, "sluice_udp_dropped_total", "reason", "upstream_socket"); v != clients-room {
		t.Errorf("upstream_socket drops = %v", v)
	}
}
