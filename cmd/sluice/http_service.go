package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"syscall"

	"github.com/quic-go/quic-go"
	"golang.org/x/sys/unix"

	"github.com/sluice-proxy/sluice/fdpoll"
	"github.com/sluice-proxy/sluice/httpproxy"
	"github.com/sluice-proxy/sluice/lb"
	"github.com/sluice-proxy/sluice/protocols/quicstream"
	"github.com/sluice-proxy/sluice/transport"
	"github.com/sluice-proxy/sluice/vstream"
)

// httpService is one http: entry, built and bound.
type httpService struct {
	cfg       *HTTPConfig
	router    *httpRouter
	svc       *httpproxy.Service
	filters   connFilters
	listeners []net.Listener
	h3        []net.PacketConn     // HTTP/3 sockets (http3.listen)
	quic      []net.PacketConn     // protocol: quic's sockets, in place of listeners
	tls       *transport.TLSServer // nil without tls:
	life                           // health checks and file watches, until shutdown
	// balancers are the service's and its routes' own, for health checks.
	balancers []*lb.Balancer
}

// newHTTPService builds hc's balancers, router, filters and Service, and
// binds its listeners.
func newHTTPService(hc *HTTPConfig, a *app) (*httpService, error) {
	s := &httpService{cfg: hc, life: newLife()}
	var fallback *httpRoute
	if len(hc.Upstreams) > 0 {
		up, err := s.upstreams(a, "", hc.Upstreams, hc.Balance)
		if err != nil {
			return nil, err
		}
		fallback = &httpRoute{up: up, headers: hc.SetRequestHeaders}
	}
	routes, err := s.buildRoutes(a, hc, fallback)
	if err != nil {
		return nil, err
	}
	s.router = newHTTPRouter(routes, fallback)
	filter, err := s.filters.build(&hc.FilterConfig)
	if err != nil {
		return nil, fmt.Errorf("http %s: %w", hc.Name, err)
	}
	var poller *fdpoll.Poller
	if hc.Poller == "own" {
		poller = a.sharedPoller()
	}
	term, srv, err := a.tlsTerm(hc.Name, hc.TLS)
	if err != nil {
		return nil, fmt.Errorf("http %s: %w", hc.Name, err)
	}
	s.tls = srv
	if hc.Protocol == "quic" {
		term = nil // QUIC does the TLS; its streams arrive decrypted
	}
	if s.h3, err = listenUDPShared(hc.HTTP3); err != nil {
		return nil, fmt.Errorf("http %s: http3: %w", hc.Name, err)
	}
	connect, err := a.connectConfig(hc)
	if err != nil {
		closePackets(s.h3)
		return nil, err
	}
	altSvc := ""
	if len(s.h3) > 0 && hc.AltSvc {
		altSvc = fmt.Sprintf(`h3=":%d"; ma=86400`, s.h3[0].LocalAddr().(*net.UDPAddr).Port)
	}
	s.svc, err = httpproxy.New(s.router, httpproxy.Config{
		AltSvc:        altSvc,
		HTTP3:         httpproxy.HTTP3Config{RetryAbove: hc.RetryAbove, ZeroRTT: hc.ZeroRTT},
		TLS:           term,
		H2C:           hc.H2C,
		H2COnly:       hc.H2COnly,
		HTTP2:         hc.H2,
		Connect:       connect,
		Poller:        poller,
		Name:          hc.Name,
		Timeouts:      hc.Timeouts,
		Pool:          a.httpPool,
		MaxRetries:    hc.MaxRetries,
		XForwardedFor: hc.XForwardedFor,
		Forwarded:     hc.Forwarded,
		Filter:        filter,
		Metrics:       a.httpMetrics,
		Logger:        a.log,
		AccessLog:     hc.AccessLog,
	})
	if err != nil {
		closePackets(s.h3)
		return nil, fmt.Errorf("http %s: %w", hc.Name, err)
	}
	if hc.Protocol == "quic" {
		addrs := make([]string, len(hc.Listen))
		for i, l := range hc.Listen {
			addrs[i] = l.Address
		}
		if s.quic, err = listenUDPShared(addrs); err != nil {
			closePackets(s.h3)
			return nil, fmt.Errorf("http %s: listen: %w", hc.Name, err)
		}
		return s, nil
	}
	if s.listeners, err = a.listenAll("http", hc.Name, hc.Listen, &hc.SocketConfig); err != nil {
		closePackets(s.h3)
		return nil, err
	}
	return s, nil
}

// serveQUIC serves each stream of the QUIC connections on pc as an HTTP
// connection, until the service's life ends.
func (s *httpService) serveQUIC(a *app, pc net.PacketConn) error {
	ql, err := quic.Listen(pc, s.tls.Config(), &quic.Config{})
	if err != nil {
		return err
	}
	vl := vstream.NewListener(vstream.Addr{Net: "quic", Name: pc.LocalAddr().String()}, 64)
	a.wg.Add(2)
	go func() {
		defer a.wg.Done()
		quicstream.Serve(s.ctx, ql, vl)
		ql.Close()
	}()
	go s.serveListener(a, vl)
	return nil
}

func closePackets(pcs []net.PacketConn) {
	for _, pc := range pcs {
		pc.Close()
	}
}

// buildRoutes builds the routes of hc: their balancers (or the service's,
// fallback) and mirrors.
func (s *httpService) buildRoutes(a *app, hc *HTTPConfig, fallback *httpRoute) ([]*httpRoute, error) {
	routes := make([]*httpRoute, 0, len(hc.Routes))
	for _, rc := range hc.Routes {
		rt := &httpRoute{name: rc.Name, host: rc.Host, prefix: rc.PathPrefix, headers: rc.SetRequestHeaders}
		if len(rc.Mirror) > 0 {
			m := &mirrorTarget{percent: rc.MirrorPercent}
			for _, u := range rc.Mirror {
				p, err := peerOf(u)
				if err != nil {
					return nil, fmt.Errorf("http %s: mirror upstream %s: %w", hc.Name, u.Addr, err)
				}
				m.peers = append(m.peers, p)
			}
			rt.mirror = m
		}
		if len(rc.Upstreams) > 0 {
			var err error
			if rt.up, err = s.upstreams(a, rc.Name, rc.Upstreams, rc.Balance); err != nil {
				return nil, err
			}
		} else {
			rt.up = fallback.up // validation made sure the service has upstreams
		}
		routes = append(routes, rt)
	}
	return routes, nil
}

// connectConfig is hc's CONNECT settings with connect.tls's certificates
// loaded.
func (a *app) connectConfig(hc *HTTPConfig) (*httpproxy.ConnectConfig, error) {
	if hc.Connect == nil || hc.ConnectTLS == nil {
		return hc.Connect, nil
	}
	_, srv, err := a.tlsTerm(hc.Name+" connect", hc.ConnectTLS)
	if err != nil {
		return nil, fmt.Errorf("http %s: connect.tls: %w", hc.Name, err)
	}
	c := *hc.Connect
	c.TLS = srv.Config()
	return &c, nil
}

// peerOf is the httpproxy.Peer of a configured upstream.
func peerOf(u Upstream) (*httpproxy.Peer, error) {
	p := &httpproxy.Peer{Addr: u.Addr.Address, Network: u.Addr.Network,
		Protocol: u.Protocol, MaxStreams: u.MaxStreams, PingInterval: u.PingInterval}
	if u.TLS != nil {
		var err error
		if p.TLS, err = transport.NewTLSClient(*u.TLS); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// listenUDPShared binds the HTTP/3 addresses with SO_REUSEPORT, so that a
// reload or an upgrade can bind them beside the running sockets.
func listenUDPShared(addrs []string) ([]net.PacketConn, error) {
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
		})
		return errors.Join(err, serr)
	}}
	var pcs []net.PacketConn
	for _, addr := range addrs {
		pc, err := lc.ListenPacket(context.Background(), "udp", addr)
		if err != nil {
			for _, p := range pcs {
				p.Close()
			}
			return nil, err
		}
		pcs = append(pcs, pc)
	}
	return pcs, nil
}

// upstreams builds a balancer over list, kept by an httpproxy.Balanced
// with a Peer per backend. route labels health changes ("" for the
// service's own upstreams).
func (s *httpService) upstreams(a *app, route string, list []Upstream, balance string) (*httpproxy.Balanced, error) {
	policy, err := lb.ParsePolicy(balance)
	if err != nil {
		return nil, fmt.Errorf("http %s: %w", s.cfg.Name, err)
	}
	backends := make([]lb.BackendConfig, 0, len(list))
	for _, u := range list {
		backends = append(backends, lb.BackendConfig{Addr: u.Addr.String(), Weight: u.Weight})
	}
	name := s.cfg.Name
	bal, err := lb.New(backends, policy, lb.OnHealthChange(func(be *lb.Backend, healthy bool, reason string) {
		a.httpHealthChanged(name, route, be.Addr, healthy, reason)
	}))
	if err != nil {
		return nil, fmt.Errorf("http %s: %w", s.cfg.Name, err)
	}
	peers := make([]*httpproxy.Peer, len(list))
	for i, u := range list {
		if peers[i], err = peerOf(u); err != nil {
			return nil, fmt.Errorf("http %s: upstream %s: %w", s.cfg.Name, u.Addr, err)
		}
	}
	i := 0
	up := httpproxy.NewBalanced(bal, func(be *lb.Backend) *httpproxy.Peer {
		p := peers[i] // Backends are in the order of list
		i++
		a.httpMetrics.UpstreamHealth(name, route, be.Addr, true)
		return p
	})
	s.balancers = append(s.balancers, bal)
	return up, nil
}

// serve starts accepting on every listener and the health checks.
func (s *httpService) serve(a *app) {
	if s.tls != nil {
		a.watchTLS(s.ctx, s.cfg.Name, s.tls)
	}
	for _, pc := range s.quic {
		if err := s.serveQUIC(a, pc); err != nil {
			a.log.Error("QUIC listener failed", "service", s.cfg.Name, "addr", pc.LocalAddr().String(), "error", err)
		}
	}
	for _, pc := range s.h3 {
		a.wg.Add(1)
		go func() {
			defer a.wg.Done()
			if err := s.svc.ServeHTTP3(pc, s.tls.Config()); err != nil {
				a.log.Error("HTTP/3 listener stopped", "service", s.cfg.Name, "addr", pc.LocalAddr().String(), "error", err)
			}
		}()
	}
	for _, l := range s.listeners {
		if s.cfg.Protocol == "vmux" {
			l = a.serveVmux(s.cfg.Name, l, s.cfg.Vmux)
		}
		a.wg.Add(1)
		go s.serveListener(a, l)
	}
	if h := s.cfg.Health; h != nil {
		hc := lb.HealthCheck{Interval: h.Interval, Timeout: h.Timeout, Rise: h.Rise, Fall: h.Fall} // lb's default probe: host:port or unix:/path
		for _, bal := range s.balancers {
			a.wg.Add(1)
			go runHealthChecks(s.ctx, a, bal, hc)
		}
	}
}

func (s *httpService) serveListener(a *app, l net.Listener) {
	defer a.wg.Done()
	// Serve's context is never cancelled: shutdown goes through
	// Service.Shutdown so requests in flight finish.
	if err := s.svc.Serve(context.Background(), l); err != nil {
		a.log.Error("listener stopped", "service", s.cfg.Name, "addr", l.Addr().String(), "error", err)
	}
}

func runHealthChecks(ctx context.Context, a *app, bal *lb.Balancer, hc lb.HealthCheck) {
	defer a.wg.Done()
	bal.RunHealthChecks(ctx, hc)
}

// reload re-reads the CIDR files and the TLS files; on error the old
// ones stay.
func (s *httpService) reload(a *app) error {
	return errors.Join(s.filters.reload(), a.reloadTLS(s.cfg.Name, s.tls))
}
