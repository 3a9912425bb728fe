package main

import (
	"context"
	"errors"
	"net"

	"github.com/sluice-proxy/sluice/lb"
)

// service is a configured service as the binary holds it, whatever its
// kind: run keeps one list of them.
type service interface {
	// kind is "tcp", "udp" or "http"; name is the service's name.
	kind() string
	name() string
	// addrs lists where it listens.
	addrs() []net.Addr
	// serve starts it (listeners, workers, health checks) on a's
	// goroutines.
	serve(a *app)
	// shutdown stops accepting and drains within ctx.
	shutdown(ctx context.Context) error
	// reload re-reads its filters' CIDR files and its TLS files (SIGHUP);
	// on error the old ones stay. Services without files return nil.
	reload(a *app) error
	// close releases what building it bound, when start fails.
	close()
	// pools returns its balancers (none for udp), whose health state a
	// reload carries into the service that replaces it.
	pools() []*lb.Balancer
	// ready reports why the service is not ready yet (its first round of
	// active health checks not done), or nil.
	ready() error
	// stopAccepting stops its accept loops (a reload, before the services
	// that took its sockets over start); shutdown then drains.
	stopAccepting()
	// config is the service's validated config (compared on reload: an
	// equal one keeps the running service as it is).
	config() any
	// sockets maps each configured listen address (as the config gave it)
	// to its stream listener, which a reload hands on to the service that
	// replaces it.
	sockets() map[string]net.Listener
}

// life bounds what a service runs beside its listeners (health checks,
// TLS file watches): it ends when the service shuts down, so a service a
// reload replaced stops probing.
type life struct {
	ctx context.Context
	end context.CancelFunc
}

func newLife() life {
	ctx, cancel := context.WithCancel(context.Background())
	return life{ctx, cancel}
}

var (
	_ service = (*tcpService)(nil)
	_ service = (*udpService)(nil)
	_ service = (*httpService)(nil)
)

func (s *tcpService) kind() string                       { return "tcp" }
func (s *tcpService) name() string                       { return s.cfg.Name }
func (s *tcpService) addrs() []net.Addr                  { return listenerAddrs(s.listeners) }
func (s *tcpService) shutdown(ctx context.Context) error { defer s.end(); return s.proxy.Shutdown(ctx) }
func (s *tcpService) close()                             { s.end(); closeListeners(s.listeners) }
func (s *tcpService) pools() []*lb.Balancer              { return s.balancers }
func (s *tcpService) ready() error                       { return healthReady(s.cfg.Health != nil, s.balancers) }
func (s *tcpService) stopAccepting()                     { s.proxy.StopAccepting() }
func (s *tcpService) config() any                        { return s.cfg }
func (s *tcpService) sockets() map[string]net.Listener   { return socketsOf(s.cfg.Listen, s.listeners) }

func (s *httpService) kind() string { return "http" }
func (s *httpService) name() string { return s.cfg.Name }
func (s *httpService) addrs() []net.Addr {
	as := listenerAddrs(s.listeners)
	for _, pc := range s.quic {
		as = append(as, pc.LocalAddr())
	}
	return as
}
func (s *httpService) shutdown(ctx context.Context) error {
	defer closePackets(s.quic)
	defer closePackets(s.h3) // HTTP/3 ends in Shutdown; its sockets are ours
	defer s.end()
	return s.svc.Shutdown(ctx)
}
func (s *httpService) close() {
	s.end()
	closeListeners(s.listeners)
	closePackets(s.h3)
	closePackets(s.quic)
}
func (s *httpService) pools() []*lb.Balancer            { return s.balancers }
func (s *httpService) ready() error                     { return healthReady(s.cfg.Health != nil, s.balancers) }
func (s *httpService) stopAccepting()                   { s.svc.StopAccepting() }
func (s *httpService) config() any                      { return s.cfg }
func (s *httpService) sockets() map[string]net.Listener { return socketsOf(s.cfg.Listen, s.listeners) }

func (s *udpService) kind() string                       { return "udp" }
func (s *udpService) name() string                       { return s.cfg.Name }
func (s *udpService) reload(*app) error                  { return nil }
func (s *udpService) addrs() []net.Addr                  { return s.proxy.Addrs() }
func (s *udpService) shutdown(ctx context.Context) error { return s.proxy.Shutdown(ctx) }
func (s *udpService) close()                             { s.proxy.Shutdown(context.Background()) }
func (s *udpService) pools() []*lb.Balancer              { return nil }
func (s *udpService) ready() error                       { return nil }
func (s *udpService) stopAccepting()                     {}
func (s *udpService) config() any                        { return s.cfg }
func (s *udpService) sockets() map[string]net.Listener   { return nil }

// healthReady is nil unless active checks run and some backend has had
// no verdict yet.
func healthReady(checked bool, bals []*lb.Balancer) error {
	if !checked {
		return nil
	}
	for _, b := range bals {
		if !b.Probed() {
			return errors.New("first round of health checks not done")
		}
	}
	return nil
}

// socketsOf pairs configured addresses with the listeners bound for them
// (listenAll keeps their order).
func socketsOf(addrs []Addr, ls []net.Listener) map[string]net.Listener {
	m := make(map[string]net.Listener, len(ls))
	for i, l := range ls {
		m[addrs[i].String()] = l
	}
	return m
}

func listenerAddrs(ls []net.Listener) []net.Addr {
	out := make([]net.Addr, 0, len(ls))
	for _, l := range ls {
		out = append(out, l.Addr())
	}
	return out
}

func closeListeners(ls []net.Listener) {
	for _, l := range ls {
		l.Close()
	}
}

// addrOf returns where the i-th service of kind ("tcp", "udp", "http")
// listens first, or "" when there is no such service.
func (a *app) addrOf(kind string, i int) string {
	for _, s := range a.currentServices() {
		if s.kind() != kind {
			continue
		}
		if i > 0 {
			i--
			continue
		}
		if as := s.addrs(); len(as) > 0 {
			return as[0].String()
		}
		return ""
	}
	return ""
}
