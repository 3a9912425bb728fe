package main

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"

	"github.com/sluice-proxy/sluice/connfilter"
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
	bal       *lb.Balancer
	proxy     *tcpproxy.Proxy
	cidr      *connfilter.CIDR
	listeners []net.Listener
}

// newTCPService builds the balancer, filters and proxy of tc and binds its
// listeners.
func newTCPService(tc *TCPConfig, a *app) (*tcpService, error) {
	s := &tcpService{cfg: tc}
	backends := make([]lb.BackendConfig, 0, len(tc.Upstreams))
	for _, u := range tc.Upstreams {
		backends = append(backends, lb.BackendConfig{Addr: u.Addr.String(), Weight: u.Weight})
	}
	policy, err := lb.ParsePolicy(tc.Balance)
	if err != nil {
		return nil, fmt.Errorf("tcp %s: %w", tc.Name, err)
	}
	// The proxy exists only after the balancer; the observer reaches it
	// through s.
	s.bal, err = lb.New(backends, policy, lb.OnHealthChange(func(be *lb.Backend, healthy bool, reason string) {
		if s.proxy != nil {
			s.proxy.HealthChanged(be, healthy, reason)
		}
	}))
	if err != nil {
		return nil, fmt.Errorf("tcp %s: %w", tc.Name, err)
	}
	filter, err := s.buildFilters()
	if err != nil {
		return nil, fmt.Errorf("tcp %s: %w", tc.Name, err)
	}
	var in *proxyproto.Acceptor
	if tc.ProxyAccept {
		in = &proxyproto.Acceptor{Trusted: tc.ProxyTrusted, HeaderTimeout: tc.HeaderTimeout}
	}
	dialer := &transport.Dialer{
		Timeout:        tc.ConnectTimeout,
		Source:         tc.Source,
		DisableNoDelay: !tc.NoDelay,
		KeepAlive:      tc.KeepAlive,
	}
	s.proxy, err = tcpproxy.New(tcpproxy.Config{
		Name:           tc.Name,
		Balancer:       s.bal,
		Dialer:         dialer,
		ConnectTimeout: tc.ConnectTimeout,
		Failover:       lb.Failover{Tries: tc.Tries, Budget: tc.Budget},
		IdleTimeout:    tc.IdleTimeout,
		Filter:         filter,
		ProxyIn:        in,
		ProxyOut:       tc.ProxySend,
		Metrics:        a.metrics,
		Logger:         a.log,
		AccessLog:      a.cfg.AccessLog,
	})
	if err != nil {
		return nil, err
	}
	for _, addr := range tc.Listen {
		lc := &transport.ListenConfig{
			Network:        addr.Network,
			Address:        addr.Address,
			ReusePort:      tc.ReusePort,
			DisableNoDelay: !tc.NoDelay,
			KeepAlive:      tc.KeepAlive,
			FastOpen:       tc.FastOpen,
			Backlog:        tc.Backlog,
			RecvBuffer:     tc.RecvBuffer,
			SendBuffer:     tc.SendBuffer,
		}
		l, err := lc.Listen(context.Background())
		if err != nil {
			for _, l := range s.listeners {
				l.Close()
			}
			return nil, fmt.Errorf("tcp %s: listen %s: %w", tc.Name, addr, err)
		}
		s.listeners = append(s.listeners, l)
	}
	return s, nil
}

// buildFilters chains the configured built-ins: CIDR lists first (cheapest,
// and a denied client must not use up a slot), then the global and per-IP
// connection limits, then the per-IP accept rate.
func (s *tcpService) buildFilters() (connfilter.Filter, error) {
	tc := s.cfg
	var fs []connfilter.Filter
	if len(tc.Allow)+len(tc.Deny) > 0 || tc.AllowFile != "" || tc.DenyFile != "" {
		allow, deny, err := s.prefixes()
		if err != nil {
			return nil, err
		}
		if s.cidr, err = connfilter.NewCIDR(allow, deny); err != nil {
			return nil, err
		}
		fs = append(fs, s.cidr)
	}
	if tc.MaxConns > 0 {
		fs = append(fs, connfilter.NewMaxConns(tc.MaxConns))
	}
	if tc.MaxConnsPerIP > 0 {
		fs = append(fs, connfilter.NewMaxConnsPerIP(tc.MaxConnsPerIP))
	}
	if tc.AcceptRatePerIP > 0 {
		fs = append(fs, connfilter.NewRate(tc.AcceptRatePerIP, tc.AcceptBurstPerIP))
	}
	switch len(fs) {
	case 0:
		return nil, nil
	case 1:
		return fs[0], nil
	}
	return connfilter.Chain(fs...), nil
}

// prefixes merges the inline lists with the files' current contents.
func (s *tcpService) prefixes() (allow, deny []netip.Prefix, err error) {
	tc := s.cfg
	allow, deny = slices.Clone(tc.Allow), slices.Clone(tc.Deny)
	if tc.AllowFile != "" {
		ps, err := connfilter.LoadCIDRFile(tc.AllowFile)
		if err != nil {
			return nil, nil, err
		}
		allow = append(allow, ps...)
	}
	if tc.DenyFile != "" {
		ps, err := connfilter.LoadCIDRFile(tc.DenyFile)
		if err != nil {
			return nil, nil, err
		}
		deny = append(deny, ps...)
	}
	return allow, deny, nil
}

// reloadFilters re-reads the CIDR files; on error the old lists stay.
func (s *tcpService) reloadFilters() error {
	if s.cidr == nil || (s.cfg.AllowFile == "" && s.cfg.DenyFile == "") {
		return nil
	}
	allow, deny, err := s.prefixes()
	if err != nil {
		return err
	}
	return s.cidr.Set(allow, deny)
}

// serve starts accepting on every listener and the health checks. On a vmux
// listener, each accepted connection is a vmux session whose streams reach
// the proxy through a vstream.Listener, exactly as sockets do.
func (s *tcpService) serve(a *app) {
	for _, raw := range s.listeners {
		var l net.Listener = raw
		if s.cfg.Protocol == "vmux" {
			vl := vstream.NewListener(vstream.Addr{Net: "vmux", Name: raw.Addr().String()}, 64)
			l = vl
			a.wg.Add(1)
			go func() {
				defer a.wg.Done()
				// Ends when the proxy's shutdown closes vl: GOAWAY, then
				// the sessions' open streams drain with the proxy.
				err := vmux.Serve(context.Background(), raw, vl, vmux.Config{OnClose: func(ss *vmux.Session, err error) {
					reason := vmux.Reason(err)
					a.vmuxClosed.WithLabelValues(s.cfg.Name, reason).Inc()
					a.log.Debug("vmux session ended", "service", s.cfg.Name, "peer", ss.RemoteAddr().String(), "reason", reason, "error", err)
				}})
				if err != nil {
					a.log.Error("vmux listener stopped", "service", s.cfg.Name, "addr", raw.Addr().String(), "error", err)
				}
			}()
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
		a.wg.Add(1)
		go func() {
			defer a.wg.Done()
			s.bal.RunHealthChecks(a.healthCtx, lb.HealthCheck{Interval: h.Interval, Timeout: h.Timeout, Rise: h.Rise, Fall: h.Fall})
		}()
	}
}
