package main

import (
	"context"
	"net"
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
}

var (
	_ service = (*tcpService)(nil)
	_ service = (*udpService)(nil)
	_ service = (*httpService)(nil)
)

func (s *tcpService) kind() string                       { return "tcp" }
func (s *tcpService) name() string                       { return s.cfg.Name }
func (s *tcpService) addrs() []net.Addr                  { return listenerAddrs(s.listeners) }
func (s *tcpService) shutdown(ctx context.Context) error { return s.proxy.Shutdown(ctx) }
func (s *tcpService) close()                             { closeListeners(s.listeners) }

func (s *httpService) kind() string                       { return "http" }
func (s *httpService) name() string                       { return s.cfg.Name }
func (s *httpService) addrs() []net.Addr                  { return listenerAddrs(s.listeners) }
func (s *httpService) shutdown(ctx context.Context) error { return s.svc.Shutdown(ctx) }
func (s *httpService) close()                             { closeListeners(s.listeners) }

func (s *udpService) kind() string                       { return "udp" }
func (s *udpService) name() string                       { return s.cfg.Name }
func (s *udpService) reload(*app) error                  { return nil }
func (s *udpService) addrs() []net.Addr                  { return s.proxy.Addrs() }
func (s *udpService) shutdown(ctx context.Context) error { return s.proxy.Shutdown(ctx) }
func (s *udpService) close()                             { s.proxy.Shutdown(context.Background()) }

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
	for _, s := range a.services {
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
