package main

import (
	"time"

	"github.com/sluice-proxy/sluice/httpproxy"
)

// upstreamHTTP validates an upstream's HTTP keys (protocol, max_streams,
// ping_interval) into u; they are refused outside http services.
func (v *validator) upstreamHTTP(p []any, s *upstreamSection, u *Upstream, http bool) error {
	if !http {
		for _, k := range []struct {
			key string
			set bool
		}{{"protocol", s.Protocol != ""}, {"max_streams", s.MaxStreams != nil}, {"ping_interval", s.PingInterval != ""}} {
			if k.set {
				return v.fail(at(p, k.key), "is for upstreams of http services")
			}
		}
		return nil
	}
	proto, err := httpproxy.ParseProtocol(s.Protocol)
	if err != nil {
		return v.fail(at(p, "protocol"), "unknown protocol %q (http1, h2, h2c, auto, h3)", s.Protocol)
	}
	switch {
	case proto == httpproxy.H2 && u.TLS == nil:
		return v.fail(at(p, "protocol"), "h2 is HTTP/2 over TLS and needs the upstream's tls: (h2c is cleartext)")
	case proto == httpproxy.H3 && u.TLS == nil:
		return v.fail(at(p, "protocol"), "h3 is HTTP/3 over QUIC and needs the upstream's tls:")
	case proto == httpproxy.H2C && u.TLS != nil:
		return v.fail(at(p, "protocol"), "h2c is cleartext HTTP/2; with tls: use h2 or auto")
	}
	u.Protocol = proto
	h2 := proto == httpproxy.H2 || proto == httpproxy.H2C || (proto == httpproxy.Auto && u.TLS != nil)
	if s.MaxStreams != nil {
		if !h2 {
			return v.fail(at(p, "max_streams"), "is for HTTP/2 upstreams (protocol: h2, h2c, or auto with tls:)")
		}
		if *s.MaxStreams < 1 {
			return v.fail(at(p, "max_streams"), "must be at least 1, got %d", *s.MaxStreams)
		}
		u.MaxStreams = *s.MaxStreams
	}
	if s.PingInterval != "" {
		if !h2 {
			return v.fail(at(p, "ping_interval"), "is for HTTP/2 upstreams (protocol: h2, h2c, or auto with tls:)")
		}
		if u.PingInterval, err = v.duration(at(p, "ping_interval"), s.PingInterval, 0); err != nil {
			return err
		}
		if err := v.atLeast(at(p, "ping_interval"), u.PingInterval, time.Second, "0s is off"); err != nil {
			return err
		}
	}
	return nil
}
