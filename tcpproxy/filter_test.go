package tcpproxy

import (
	"net/netip"
	"testing"

	"github.com/sluice-proxy/sluice/connfilter"
	"github.com/sluice-proxy/sluice/lb"
	"github.com/sluice-proxy/sluice/protocols/proxyproto"
)

// TestFilters drives every built-in through the proxy: the client over the
// line is closed before reaching an upstream and counted by reason; the
// client within it is served.
func TestFilters(t *testing.T) {
	u := newUpstream(t, echo)
	must := func(f *connfilter.CIDR, err error) connfilter.Filter {
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	loop := netip.MustParsePrefix("127.0.0.1/32")
	other := netip.MustParsePrefix("10.0.0.0/8")
	for _, tc := range []struct {
		name   string
		filter connfilter.Filter
		held   int // connections that must be accepted and kept open first
		reason string
	}{
		{"deny", must(connfilter.NewCIDR(nil, []netip.Prefix{loop})), 0, "deny"},
		{"allow list", must(connfilter.NewCIDR([]netip.Prefix{other}, nil)), 0, "not_allowed"},
		{"max conns", connfilter.NewMaxConns(2), 2, "max_conns"},
		{"max conns per ip", connfilter.NewMaxConnsPerIP(1), 1, "max_conns_per_ip"},
		{"accept rate per ip", connfilter.NewRate(0.001, 2), 2, "rate_limit"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := startProxy(t, Config{Balancer: balancer(t, lb.RoundRobin, u.addr), Filter: tc.filter})
			for range tc.held {
				c := dial(t, h.addr)
				roundTrip(t, c, "held")
			}
			c := dial(t, h.addr)
			c.Write([]byte("x"))
			if b := readAll(t, c); len(b) != 0 {
				t.Fatalf("rejected client got %q", b)
			}
			if v := h.metric(t, "sluice_tcp_rejected_total", map[string]string{"reason": tc.reason}); v != 1 {
				t.Errorf("rejected{%s} = %v, want 1", tc.reason, v)
			}
			if v := h.metric(t, "sluice_tcp_connections_total", nil); v != float64(tc.held) {
				t.Errorf("connections_total = %v, want %d", v, tc.held)
			}
		})
	}
}

// TestFilterAfterProxyHeader: behind a trusted PROXY peer, per-client
// filters judge the client named in the header, not the peer.
func TestFilterAfterProxyHeader(t *testing.T) {
	u := newUpstream(t, echo)
	deny, err := connfilter.NewCIDR(nil, []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")})
	if err != nil {
		t.Fatal(err)
	}
	h := startProxy(t, Config{
		Balancer: balancer(t, lb.RoundRobin, u.addr),
		Filter:   deny,
		ProxyIn:  &proxyproto.Acceptor{Trusted: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}},
	})
	ok := dial(t, h.addr)
	ok.Write([]byte("PROXY TCP4 198.51.100.7 198.51.100.1 5555 80\r\n"))
	roundTrip(t, ok, "allowed client")

	bad := dial(t, h.addr)
	bad.Write([]byte("PROXY TCP4 192.0.2.7 198.51.100.1 5555 80\r\nx"))
	if b := readAll(t, bad); len(b) != 0 {
		t.Fatalf("denied client got %q", b)
	}
	if v := h.metric(t, "sluice_tcp_rejected_total", map[string]string{"reason": "deny"}); v != 1 {
		t.Errorf("rejected{deny} = %v, want 1", v)
	}
	roundTrip(t, ok, "still served")
}
