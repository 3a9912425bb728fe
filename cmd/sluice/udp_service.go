package main

import (
	"context"
	"fmt"

	"github.com/sluice-proxy/sluice/lb"
	"github.com/sluice-proxy/sluice/udpproxy"
)

// udpService is one udp: entry, built and bound.
type udpService struct {
	cfg   *UDPConfig
	proxy *udpproxy.Proxy
}

// newUDPService builds uc's proxy and binds its sockets.
func newUDPService(uc *UDPConfig, a *app) (*udpService, error) {
	ups := make([]lb.BackendConfig, 0, len(uc.Upstreams))
	for _, u := range uc.Upstreams {
		ups = append(ups, lb.BackendConfig{Addr: u.Addr.Address, Weight: u.Weight})
	}
	p, err := udpproxy.New(udpproxy.Config{
		Name:            uc.Name,
		Listen:          uc.Listen,
		Upstreams:       ups,
		Balance:         lb.Policy(uc.Balance),
		IdleTimeout:     uc.IdleTimeout,
		MaxSessions:     uc.MaxSessions,
		MaxDatagramSize: uc.MaxDatagramSize,
		Workers:         uc.Workers,
		Filter: udpproxy.FilterConfig{
			Allow:             uc.Allow,
			Deny:              uc.Deny,
			SessionRatePerIP:  uc.SessionRatePerIP,
			SessionBurstPerIP: uc.SessionBurstPerIP,
		},
		ProxyOut:  uc.ProxySend,
		Metrics:   a.udpMetrics,
		Logger:    a.log,
		AccessLog: a.cfg.AccessLog,
	})
	if err != nil {
		return nil, fmt.Errorf("udp %s: %w", uc.Name, err)
	}
	if err := p.Listen(); err != nil {
		return nil, err
	}
	return &udpService{cfg: uc, proxy: p}, nil
}

// serve runs the workers until Shutdown.
func (s *udpService) serve(a *app) {
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		if err := s.proxy.Serve(context.Background()); err != nil {
			a.log.Error("udp service stopped", "service", s.cfg.Name, "error", err)
		}
	}()
}
