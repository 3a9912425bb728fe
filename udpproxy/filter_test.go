//go:build linux

package udpproxy

import (
	"context"
	"net/netip"
	"sync/atomic"
	"testing"

	"github.com/sluice-proxy/sluice/connfilter"
)

func TestFilters(t *testing.T) {
	e := newEcho(t, "")
	tests := []struct {
		name   string
		filter FilterConfig
		reason string
	}{
		{"deny", FilterConfig{Deny: []netip.Prefix{mustPrefix("127.0.0.0/8")}}, "deny"},
		{"not allowed", FilterConfig{Allow: []netip.Prefix{mustPrefix("10.0.0.0/8")}}, "not_allowed"},
		{"deny wins", FilterConfig{Allow: []netip.Prefix{mustPrefix("127.0.0.0/8")}, Deny: []netip.Prefix{mustPrefix("127.0.0.1/32")}}, "deny"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := startProxy(t, Config{Upstreams: backends(e.addr), Filter: tt.filter}, nil)
			c := dial(t, nil, h.addr)
			for range 2 { // every datagram of a refused client is judged and dropped
				if _, err := c.Write([]byte("let me in")); err != nil {
					t.Fatal(err)
				}
				if rec := h.log.next(t, "udp datagrams dropped"); rec.attrs["reason"] != tt.reason {
					t.Errorf("dropped for %q, want %q", rec.attrs["reason"], tt.reason)
				}
			}
			if v := h.metric(t, "sluice_udp_dropped_total", "reason", tt.reason, "direction", "upstream"); v != 2 {
				t.Errorf("dropped{%s} = %v, want 2", tt.reason, v)
			}
			if v := h.metric(t, "sluice_udp_sessions_created_total"); v != 0 {
				t.Errorf("created = %v", v)
			}
		})
	}
	t.Run("allowed", func(t *testing.T) {
		h := startProxy(t, Config{Upstreams: backends(e.addr), Filter: FilterConfig{Allow: []netip.Prefix{mustPrefix("127.0.0.0/8")}}}, nil)
		if got := roundTrip(t, dial(t, nil, h.addr), []byte("hi")); string(got) != "hi" {
			t.Errorf("got %q", got)
		}
	})
	t.Run("session rate per IP", func(t *testing.T) {
		h := startProxy(t, Config{Upstreams: backends(e.addr), Filter: FilterConfig{SessionRatePerIP: 0.001, SessionBurstPerIP: 2}}, nil)
		// Two sessions from one IP pass, the third is refused; datagrams of
		// an existing session are never judged again.
		a, b, c := dial(t, loopback(7), h.addr), dial(t, loopback(7), h.addr), dial(t, loopback(7), h.addr)
		roundTrip(t, a, []byte("1"))
		roundTrip(t, b, []byte("2"))
		if _, err := c.Write([]byte("3")); err != nil {
			t.Fatal(err)
		}
		if rec := h.log.next(t, "udp datagrams dropped"); rec.attrs["reason"] != "rate_limit" {
			t.Errorf("dropped for %v", rec.attrs)
		}
		for range 3 {
			roundTrip(t, a, []byte("again"))
		}
		// Another IP has its own bucket.
		roundTrip(t, dial(t, loopback(8), h.addr), []byte("4"))
	})
	t.Run("custom filter and release", func(t *testing.T) {
		var admitted, released atomic.Int32
		f := connfilter.Func(func(_ context.Context, in *connfilter.Info) (func(), error) {
			if in.Client.Port()%2 == 1 && in.Listener == "test" && in.Local.Addr() == netip.MustParseAddr("127.0.0.1") {
				admitted.Add(1)
				return func() { released.Add(1) }, nil
			}
			return nil, &connfilter.RejectError{Filter: "odd", Reason: "even_port"}
		})
		h := startProxy(t, Config{Upstreams: backends(e.addr), CustomFilter: f}, nil)
		n := 0
		for n < 2 {
			c := dial(t, nil, h.addr)
			if c.LocalAddr().(interface{ AddrPort() netip.AddrPort }).AddrPort().Port()%2 == 1 {
				roundTrip(t, c, []byte("odd"))
				n++
			}
		}
		h.stop(t)
		if admitted.Load() != 2 || released.Load() != 2 {
			t.Errorf("admitted %d, released %d", admitted.Load(), released.Load())
		}
	})
}
