package main

import (
	"strings"

	"github.com/sluice-proxy/sluice/lb"
	"github.com/sluice-proxy/sluice/tcpproxy"
)

// tcpRouteSection is one entry of a tcp: service's routes: on the TLS
// ClientHello, without terminating.
type tcpRouteSection struct {
	Name      string            `yaml:"name"`
	SNI       []string          `yaml:"sni"`
	ALPN      []string          `yaml:"alpn"`
	Upstreams []upstreamSection `yaml:"upstreams"`
	Balance   string            `yaml:"balance"`
}

// TCPRoute is a validated tcp: route.
type TCPRoute struct {
	Name      string
	SNI, ALPN []string
	Upstreams []Upstream
	Balance   string
}

// tcpRoutes validates a tcp: service's routes: and hello_timeout into t.
// With routes the service's own upstreams become optional: without them a
// hello no route takes is closed.
func (v *validator) tcpRoutes(p []any, s *tcpSection, t *TCPConfig) error {
	var err error
	if t.HelloTimeout, err = v.duration(at(p, "hello_timeout"), s.HelloTimeout, tcpproxy.DefaultHelloTimeout); err != nil {
		return err
	}
	if err := v.atLeast(at(p, "hello_timeout"), t.HelloTimeout, minTimeout, zeroRefused); err != nil {
		return err
	}
	if len(s.Routes) == 0 {
		if s.HelloTimeout != "" {
			return v.fail(at(p, "hello_timeout"), "only used with routes:")
		}
		return nil
	}
	if s.TLS != nil {
		return v.fail(at(p, "routes"), "routes act on the ClientHello without terminating TLS; they do not go with tls:")
	}
	if t.Protocol != "tcp" {
		return v.fail(at(p, "routes"), "routes are for protocol: tcp")
	}
	names := map[string]bool{}
	for i, rs := range s.Routes {
		rp := at(p, "routes", i)
		r := TCPRoute{Name: rs.Name, ALPN: rs.ALPN}
		if r.Name == "" {
			r.Name = strings.Join(rs.SNI, ",") + "/" + strings.Join(rs.ALPN, ",")
		}
		if names[r.Name] {
			return v.fail(at(rp, "name"), "duplicate route name %q", r.Name)
		}
		names[r.Name] = true
		if len(rs.SNI) == 0 && len(rs.ALPN) == 0 {
			return v.fail(rp, "a route needs sni: or alpn: (the service's upstreams take the rest)")
		}
		for j, n := range rs.SNI {
			name := strings.ToLower(strings.TrimPrefix(n, "*."))
			if name == "" || strings.ContainsAny(name, "*/: ") || strings.HasPrefix(name, ".") || strings.HasSuffix(name, ".") {
				return v.fail(at(rp, "sni", j), "invalid server name %q (want a.example or *.example.com)", n)
			}
			r.SNI = append(r.SNI, strings.ToLower(n))
		}
		for j, a := range rs.ALPN {
			if a == "" || len(a) > 255 {
				return v.fail(at(rp, "alpn", j), "invalid protocol %q", a)
			}
		}
		if r.Upstreams, err = v.upstreams(at(rp, "upstreams"), rs.Upstreams, true, false); err != nil {
			return err
		}
		def := lb.Policy(t.Balance)
		if r.Balance, err = v.policy(at(rp, "balance"), rs.Balance, def); err != nil {
			return err
		}
		t.Routes = append(t.Routes, r)
	}
	return nil
}
