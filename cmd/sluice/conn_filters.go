package main

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"

	"github.com/sluice-proxy/sluice/connfilter"
	"github.com/sluice-proxy/sluice/transport"
)

// connFilters is the chain of built-in connection filters of a tcp: or
// http: service, with the CIDR lists kept for reloads.
type connFilters struct {
	cfg  *FilterConfig
	cidr *connfilter.CIDR
}

// build chains the configured built-ins: CIDR lists first (cheapest, and a
// denied client must not use up a slot), then the global and per-IP
// connection limits, then the per-IP accept rate. It returns nil when none
// is configured.
func (f *connFilters) build(cfg *FilterConfig) (connfilter.Filter, error) {
	f.cfg = cfg
	var fs []connfilter.Filter
	if len(cfg.Allow)+len(cfg.Deny) > 0 || cfg.AllowFile != "" || cfg.DenyFile != "" {
		allow, deny, err := f.prefixes()
		if err != nil {
			return nil, err
		}
		if f.cidr, err = connfilter.NewCIDR(allow, deny); err != nil {
			return nil, err
		}
		fs = append(fs, f.cidr)
	}
	if cfg.MaxConns > 0 {
		fs = append(fs, connfilter.NewMaxConns(cfg.MaxConns))
	}
	if cfg.MaxConnsPerIP > 0 {
		fs = append(fs, connfilter.NewMaxConnsPerIP(cfg.MaxConnsPerIP))
	}
	if cfg.AcceptRatePerIP > 0 {
		fs = append(fs, connfilter.NewRate(cfg.AcceptRatePerIP, cfg.AcceptBurstPerIP))
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
func (f *connFilters) prefixes() (allow, deny []netip.Prefix, err error) {
	cfg := f.cfg
	allow, deny = slices.Clone(cfg.Allow), slices.Clone(cfg.Deny)
	if cfg.AllowFile != "" {
		ps, err := connfilter.LoadCIDRFile(cfg.AllowFile)
		if err != nil {
			return nil, nil, err
		}
		allow = append(allow, ps...)
	}
	if cfg.DenyFile != "" {
		ps, err := connfilter.LoadCIDRFile(cfg.DenyFile)
		if err != nil {
			return nil, nil, err
		}
		deny = append(deny, ps...)
	}
	return allow, deny, nil
}

// reload re-reads the CIDR files; on error the old lists stay.
func (f *connFilters) reload() error {
	if f.cidr == nil || (f.cfg.AllowFile == "" && f.cfg.DenyFile == "") {
		return nil
	}
	allow, deny, err := f.prefixes()
	if err != nil {
		return err
	}
	return f.cidr.Set(allow, deny)
}

// listenAll binds every address with the socket options of sc (or, during
// a reload, takes over the running service's socket for it); on error it
// closes what it bound. kind and name label the error ("tcp web: listen
// ...").
func (a *app) listenAll(kind, name string, addrs []Addr, sc *SocketConfig) ([]net.Listener, error) {
	var ls []net.Listener
	for _, addr := range addrs {
		l, err := a.takeOver(kind, name, addr)
		if err == nil && l == nil {
			lc := &transport.ListenConfig{
				Network:        addr.Network,
				Address:        addr.Address,
				ReusePort:      sc.ReusePort,
				DisableNoDelay: !sc.NoDelay,
				KeepAlive:      sc.KeepAlive,
				FastOpen:       sc.FastOpen,
				Backlog:        sc.Backlog,
				RecvBuffer:     sc.RecvBuffer,
				SendBuffer:     sc.SendBuffer,
			}
			l, err = lc.Listen(context.Background())
		}
		if err != nil {
			for _, l := range ls {
				l.Close()
			}
			return nil, fmt.Errorf("%s %s: listen %s: %w", kind, name, addr, err)
		}
		ls = append(ls, l)
	}
	return ls, nil
}
