package tcpproxy

import (
	"errors"
	"net"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/sluice-proxy/sluice/lb"
	"github.com/sluice-proxy/sluice/protocols/tlshello"
	"github.com/sluice-proxy/sluice/vstream"
)

// DefaultHelloTimeout bounds the read of the ClientHello routes look at,
// when Config.HelloTimeout is 0.
const DefaultHelloTimeout = 5 * time.Second

// Route sends the connections whose TLS ClientHello it matches to a
// balancer of its own, without terminating TLS: the hello is read ahead,
// never consumed, and the upstream gets it unchanged.
type Route struct {
	// Name labels the route in logs.
	Name string
	// ServerNames match the SNI: a name exactly (case-insensitive), or
	// "*.example.com" for one label under example.com. Empty matches any
	// hello, with or without SNI.
	ServerNames []string
	// ALPN matches when the client offers one of these protocols; empty
	// matches any hello.
	ALPN []string
	// Balancer picks the route's upstreams; required.
	Balancer *lb.Balancer
}

// matches reports whether the route takes h.
func (r *Route) matches(h *tlshello.Hello) bool {
	if len(r.ServerNames) > 0 && !slices.ContainsFunc(r.ServerNames, func(n string) bool { return nameMatches(n, h.ServerName) }) {
		return false
	}
	if len(r.ALPN) > 0 && !slices.ContainsFunc(h.ALPN, func(p string) bool { return slices.Contains(r.ALPN, p) }) {
		return false
	}
	return true
}

// nameMatches matches a route's name (exact or *.wildcard) against an SNI
// (lower-case).
func nameMatches(pattern, sni string) bool {
	if sni == "" {
		return false
	}
	pattern = strings.ToLower(pattern)
	if parent, ok := strings.CutPrefix(pattern, "*."); ok {
		_, rest, found := strings.Cut(sni, ".")
		return found && rest == parent
	}
	return pattern == sni
}

// errNoRoute ends a connection no route takes when there is no default.
var errNoRoute = errors.New("tcpproxy: no route for this ClientHello and no default upstreams")

// routeHello reads the ClientHello from c (bounded by HelloTimeout) and
// picks the balancer: the first route that matches, else Config.Balancer.
// It returns the connection to relay (the hello replayed first) and, on
// failure, the reason to count.
func (p *Proxy) routeHello(c net.Conn) (net.Conn, *lb.Balancer, *tlshello.Hello, string, error) {
	timeout := p.cfg.HelloTimeout
	if timeout <= 0 {
		timeout = DefaultHelloTimeout
	}
	c.SetReadDeadline(time.Now().Add(timeout))
	h, raw, err := tlshello.Read(c, 0)
	c.SetReadDeadline(time.Time{})
	if err != nil {
		reason := "tls_hello_invalid"
		switch {
		case errors.Is(err, os.ErrDeadlineExceeded):
			reason = "tls_timeout"
		case errors.Is(err, tlshello.ErrNotTLS):
			reason = "tls_not_tls"
		case errors.Is(err, tlshello.ErrTooLarge):
			reason = "tls_hello_too_large"
		}
		return nil, nil, nil, reason, err
	}
	rc := vstream.WithPrefix(c, raw)
	for i := range p.cfg.Routes {
		if r := &p.cfg.Routes[i]; r.matches(h) {
			return rc, r.Balancer, h, "", nil
		}
	}
	if p.cfg.Balancer == nil {
		return nil, nil, h, "no_route", errNoRoute
	}
	return rc, p.cfg.Balancer, h, "", nil
}

// balancers lists every balancer the proxy picks from.
func (p *Proxy) balancers() []*lb.Balancer {
	var out []*lb.Balancer
	if p.cfg.Balancer != nil {
		out = append(out, p.cfg.Balancer)
	}
	for _, r := range p.cfg.Routes {
		out = append(out, r.Balancer)
	}
	return out
}
