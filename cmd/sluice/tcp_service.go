package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/sluice-proxy/sluice/lb"
	"github.com/sluice-proxy/sluice/protocols/proxyproto"
	"github.com/sluice-proxy/sluice/protocols/vmux"
	"github.com/sluice-proxy/sluice/tcpproxy"
	"github.com/sluice-proxy/sluice/transport"
	"github.com/sluice-proxy/sluice/vstream"
)

// tcpService is one tcp: entry, built and bound.
type tcpService struct {
	cfg       *TCPConfig
	bal       *lb.Balancer   // the service's own upstreams; nil when only routes have any
	balancers []*lb.Balancer // bal and the routes', for health checks
	proxy     *tcpproxy.Proxy
	filters   connFilters
	listeners []net.Listener
	tls       *transport.TLSServer // nil without tls:
	life                           // health checks and file watches, until shutdown
}

// newTCPService builds the balancer, filters and proxy of tc and binds its
// listeners.
func newTCPService(tc *TCPConfig, a *app) (*tcpService, error) {
	s := &tcpService{cfg: tc, life: newLife()}
	var err error
	if len(tc.Upstreams) > 0 {
		if s.bal, err = s.balancer(tc.Upstreams, tc.Balance); err != nil {
			return nil, err
		}
	}
	routes := make([]tcpproxy.Route, 0, len(tc.Routes))
	for _, r := range tc.Routes {
		bal, err := s.balancer(r.Upstreams, r.Balance)
		if err != nil {
			return nil, err
		}
		routes = append(routes, tcpproxy.Route{Name: r.Name, ServerNames: r.SNI, ALPN: r.ALPN, Balancer: bal})
	}
	filter, err := s.filters.build(&tc.FilterConfig)
	if err != nil {
		return nil, fmt.Errorf("tcp %s: %w", tc.Name, err)
	}
	var in *proxyproto.Acceptor
	if tc.ProxyAccept {
		in = &proxyproto.Acceptor{Trusted: tc.ProxyTrusted, HeaderTimeout: tc.HeaderTimeout}
	}
	upTLS, err := upstreamTLSConfigs(tc)
	if err != nil {
		return nil, fmt.Errorf("tcp %s: %w", tc.Name, err)
	}
	term, srv, err := a.tlsTerm(tc.Name, tc.TLS)
	if err != nil {
		return nil, fmt.Errorf("tcp %s: %w", tc.Name, err)
	}
	s.tls = srv
	dialer := &transport.Dialer{
		Timeout:        tc.ConnectTimeout,
		Source:         tc.Source,
		DisableNoDelay: !tc.NoDelay,
		KeepAlive:      tc.KeepAlive,
	}
	s.proxy, err = tcpproxy.New(tcpproxy.Config{
		Name:           tc.Name,
		Balancer:       s.bal,
		Routes:         routes,
		UpstreamTLS:    upTLS,
		HelloTimeout:   tc.HelloTimeout,
		Dialer:         dialer,
		ConnectTimeout: tc.ConnectTimeout,
		Failover:       lb.Failover{Tries: tc.Tries, Budget: tc.Budget},
		IdleTimeout:    off(tc.IdleTimeout), // YAML 0s is never; the library's 0 is its default
		Filter:         filter,
		ProxyIn:        in,
		TLS:            term,
		ProxyOut:       tc.ProxySend,
		Metrics:        a.metrics,
		Logger:         a.log,
		AccessLog:      a.cfg.AccessLog,
	})
	if err != nil {
		return nil, err
	}
	if s.listeners, err = a.listenAll("tcp", tc.Name, tc.Listen, &tc.SocketConfig); err != nil {
		return nil, err
	}
	return s, nil
}

// balancer builds a balancer over list whose health flips reach the
// proxy (made after the balancers: the observer reaches it through s).
func (s *tcpService) balancer(list []Upstream, balance string) (*lb.Balancer, error) {
	backends := make([]lb.BackendConfig, 0, len(list))
	for _, u := range list {
		backends = append(backends, lb.BackendConfig{Addr: u.Addr.String(), Weight: u.Weight})
	}
	bal, err := lb.New(backends, lb.Policy(balance), lb.OnHealthChange(func(be *lb.Backend, healthy bool, reason string) {
		if s.proxy != nil {
			s.proxy.HealthChanged(be, healthy, reason)
		}
	}))
	if err != nil {
		return nil, fmt.Errorf("tcp %s: %w", s.cfg.Name, err)
	}
	s.balancers = append(s.balancers, bal)
	return bal, nil
}

// reload re-reads the CIDR files and the TLS files; on error the old
// ones stay.
func (s *tcpService) reload(a *app) error {
	return errors.Join(s.filters.reload(), a.reloadTLS(s.cfg.Name, s.tls))
}

// serve starts accepting on every listener and the health checks. On a vmux
// listener, each accepted connection is a vmux session, bounded by the
// service's vmux: limits, whose streams reach the proxy through a
// vstream.Listener, exactly as sockets do.
func (s *tcpService) serve(a *app) {
	if s.tls != nil {
		a.watchTLS(s.ctx, s.cfg.Name, s.tls)
	}
	for _, raw := range s.listeners {
		var l net.Listener = raw
		if s.cfg.Protocol == "vmux" {
			l = a.serveVmux(s.cfg.Name, raw, s.cfg.Vmux)
		}
		a.wg.Add(1)
		go func() {
			defer a.wg.Done()
			// Serve's context is never cancelled: shutdown goes through
			// Proxy.Shutdown so open connections drain.
			if err := s.proxy.Serve(context.Background(), l); err != nil {
				a.log.Error("listener stopped", "service", s.cfg.Name, "addr", l.Addr().String(), "error", err)
			}
		}()
	}
	if h := s.cfg.Health; h != nil {
		for _, bal := range s.balancers {
			a.wg.Add(1)
			go func() {
				defer a.wg.Done()
				// lb's default probe: a connect to host:port or unix:/path.
				bal.RunHealthChecks(s.ctx, lb.HealthCheck{Interval: h.Interval, Timeout: h.Timeout, Rise: h.Rise, Fall: h.Fall})
			}()
		}
	}
}

// serveVmux serves vmux sessions on raw and returns the listener of their
// streams, which the service serves as it would sockets. The sessions end
// when the service's shutdown closes that listener: GOAWAY, then their
// open streams drain with the service.
func (a *app) serveVmux(name string, raw net.Listener, lim VmuxLimits) net.Listener {
	vl := vstream.NewListener(vstream.Addr{Net: "vmux", Name: raw.Addr().String()}, 64)
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		cfg := vmuxConfig(lim)
		cfg.OnClose = func(ss *vmux.Session, err error) {
			a.metrics.VmuxSessionEnded(name, err)
			a.log.Debug("vmux session ended", "service", name, "peer", ss.RemoteAddr().String(), "reason", vmux.Reason(err), "error", err)
		}
		if err := vmux.Serve(context.Background(), raw, vl, cfg); err != nil {
			a.log.Error("vmux listener stopped", "service", name, "addr", raw.Addr().String(), "error", err)
		}
	}()
	return vl
}

// vmuxConfig maps a service's vmux: limits onto the vmux.Config of its
// sessions: sluice's 0 (off) is vmux's negative, since a zero vmux.Config
// field means vmux's default. MaxStreams and StreamWindow pass through
// (the validator keeps them positive).
func vmuxConfig(l VmuxLimits) vmux.Config {
	return vmux.Config{
		HandshakeTimeout: off(l.HandshakeTimeout),
		FrameTimeout:     off(l.FrameTimeout),
		IdleTimeout:      off(l.IdleTimeout),
		MaxStreams:       l.MaxStreams,
		Window:           l.StreamWindow,
	}
}

// off maps the YAML's rule for a limit (0s turns it off) onto the
// libraries' (0 is the default, negative is off).
func off(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
}

// upstreamTLSConfigs builds the TLS configs of tc's upstreams (its own and
// its routes'), by address; nil when none has tls:.
func upstreamTLSConfigs(tc *TCPConfig) (map[string]*tls.Config, error) {
	var out map[string]*tls.Config
	lists := [][]Upstream{tc.Upstreams}
	for _, r := range tc.Routes {
		lists = append(lists, r.Upstreams)
	}
	for _, list := range lists {
		for _, u := range list {
			if u.TLS == nil {
				continue
			}
			cfg, err := transport.NewTLSClient(*u.TLS)
			if err != nil {
				return nil, fmt.Errorf("upstream %s: %w", u.Addr, err)
			}
			if out == nil {
				out = map[string]*tls.Config{}
			}
			out[u.Addr.String()] = cfg
		}
	}
	return out, nil
}
