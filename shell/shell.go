// Package shell is the service shell: what every connection-oriented
// service of sluice does with a listener before its own protocol starts,
// written once. A Shell runs accept loops (transport.Server) on any number
// of listeners, judges each connection with the connection filters at
// accept (before any byte is read), reads a required PROXY header from
// trusted peers and judges the real client again, counts and logs every
// connection it turns away, and drains: Shutdown stops accepting and waits
// for the connections in hand, cancelling them when its context ends.
//
// With Config.TLS it also terminates TLS, once for every service: the
// ClientHello is read ahead, judged by the filters at
// connfilter.StageHello (server name, ALPN, JA4) before any key exchange,
// the certificate follows the SNI, client certificates are verified, and
// the handshake's outcome lands in the connection's Digest, with what a
// handshake hook returns as its user extension.
//
// tcpproxy and httpproxy are built on it; reload and upgrade plug in here
// once for both.
package shell

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/sluice-proxy/sluice/connfilter"
	"github.com/sluice-proxy/sluice/protocols/proxyproto"
	"github.com/sluice-proxy/sluice/transport"
	"github.com/sluice-proxy/sluice/vstream"
)

// Config configures a Shell. Name and Handler are required.
type Config struct {
	// Name names the service: in logs, connfilter.Info.Listener and
	// vstream.Digest.Listener.
	Name string
	// Filter judges each connection at accept (connfilter.StageAccept),
	// before any byte is read, and, with ProxyIn, the real client once
	// its PROXY header has named it (connfilter.StageProxy). nil admits
	// all.
	Filter connfilter.Filter
	// FilterTimeout bounds one Filter.Check (transport.Server's).
	FilterTimeout time.Duration
	// ProxyIn, when set, requires a PROXY v1/v2 header from every peer:
	// peers it does not trust are refused before anything is read.
	ProxyIn *proxyproto.Acceptor
	// Adopt, when set, replaces each admitted connection before anything
	// is read from it (httpproxy moves sockets to its fdpoll.Poller).
	Adopt func(net.Conn) net.Conn
	// TLS, when set, terminates TLS after the PROXY header: the Handler
	// then gets the *tls.Conn (see TLS).
	TLS *TLS
	// Handler serves one admitted connection, on a goroutine of its own,
	// after the PROXY header when ProxyIn is set (d then names the real
	// client) and after the TLS handshake when TLS is set. It owns c and
	// must close it. ctx is cancelled when Serve's context ends or
	// Shutdown runs out of time.
	Handler func(ctx context.Context, c net.Conn, d *vstream.Digest)
	// OnReject, when set, is called once for each connection turned away
	// (a filter verdict, a PROXY fault), with its reason
	// (connfilter.Reason, or proxyproto's "proxy_invalid", ...): a hook
	// for metrics. The Shell logs the rejection itself.
	OnReject func(reason string)
	// OnAcceptError is transport.Server's: called with each accept error
	// the Shell backs off from (most often sluice's own lack of
	// descriptors).
	OnAcceptError func(err error)
	// Logger receives rejections, accept errors and recovered panics; nil
	// discards them.
	Logger *slog.Logger
}

// Shell runs a service's listeners. Make it with New.
type Shell struct {
	cfg Config
	log *slog.Logger

	mu       sync.Mutex
	draining bool
	stopped  bool // StopAccepting ran: no listener is served any more
	// servers stay registered after Serve returns: their handlers may
	// still be running, and Shutdown waits for them.
	servers map[*transport.Server]struct{}
}

// New returns a Shell for cfg.
func New(cfg Config) (*Shell, error) {
	if cfg.Handler == nil {
		return nil, errors.New("shell: Config.Handler is required")
	}
	if cfg.TLS != nil && cfg.TLS.Server == nil {
		return nil, errors.New("shell: TLS needs a Server")
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Shell{cfg: cfg, log: log, servers: make(map[*transport.Server]struct{})}, nil
}

// Serve accepts connections on ln until ln is closed, ctx ends or
// Shutdown runs; it returns nil in those cases. It may be called for
// several listeners at once.
func (s *Shell) Serve(ctx context.Context, ln net.Listener) error {
	srv := &transport.Server{
		Name:          s.cfg.Name,
		Listener:      ln,
		Filter:        s.cfg.Filter,
		FilterTimeout: s.cfg.FilterTimeout,
		Handler:       s.handle,
		OnReject: func(in *connfilter.Info, err error) {
			s.rejected(connfilter.Reason(err), err, "peer", in.Peer.String(), "stage", in.Stage.String())
		},
		OnAcceptError: s.cfg.OnAcceptError,
		Logger:        s.log,
	}
	if pin := s.cfg.ProxyIn; pin != nil {
		srv.Filter = pin.WithTrust(s.cfg.Filter)
		srv.AwaitingProxy = func(peer netip.AddrPort) bool { return pin.Trusts(peer.Addr()) }
	}
	s.mu.Lock()
	if s.draining || s.stopped {
		s.mu.Unlock()
		ln.Close()
		return nil
	}
	s.servers[srv] = struct{}{}
	s.mu.Unlock()
	return srv.Serve(ctx)
}

// handle is the transport.Server Handler: adopt, PROXY admit, then the
// service's Handler.
func (s *Shell) handle(ctx context.Context, c net.Conn, d *vstream.Digest, release func()) {
	defer release()
	if s.cfg.Adopt != nil {
		c = s.cfg.Adopt(c)
	}
	if pin := s.cfg.ProxyIn; pin != nil {
		pc, rel, reason, err := pin.Admit(ctx, c, d, s.cfg.Filter)
		if err != nil {
			s.rejected(reason, err, "peer", addrString(d.RemoteAddr), "client", addrString(d.ClientAddr))
			c.Close()
			return
		}
		if rel != nil {
			defer rel()
		}
		c = pc
	}
	if s.cfg.TLS != nil {
		tc, rel, err := s.terminate(ctx, c, d)
		if err != nil {
			var te *tlsError
			errors.As(err, &te)
			if m := s.cfg.TLS.Metrics; m != nil {
				m.failed(s.cfg.Name, te.reason)
			}
			s.rejected(te.reason, err, "peer", addrString(d.RemoteAddr), "client", addrString(d.ClientAddr))
			c.Close()
			return
		}
		if rel != nil {
			defer rel()
		}
		c = tc
	}
	s.cfg.Handler(ctx, c, d)
}

// rejected counts and logs a connection turned away.
func (s *Shell) rejected(reason string, err error, attrs ...any) {
	if s.cfg.OnReject != nil {
		s.cfg.OnReject(reason)
	}
	s.log.Info("connection rejected", append([]any{"service", s.cfg.Name, "reason", reason, "error", err}, attrs...)...)
}

// Draining reports whether Shutdown has been called.
func (s *Shell) Draining() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.draining
}

// StopAccepting stops accepting on every listener (closing them) and
// returns once no accept loop runs; the connections in hand go on, for
// Shutdown to drain. A reload stops the services it replaces this way
// before their successors, which took their sockets over, start.
func (s *Shell) StopAccepting() {
	s.mu.Lock()
	s.stopped = true
	servers := make([]*transport.Server, 0, len(s.servers))
	for srv := range s.servers {
		servers = append(servers, srv)
	}
	s.mu.Unlock()
	for _, srv := range servers {
		srv.StopAccepting()
	}
}

// Shutdown stops accepting on every listener and waits for the
// connections in hand to finish. When ctx ends first, their handlers'
// contexts are cancelled, and Shutdown returns ctx's error once they have
// returned.
func (s *Shell) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.draining = true
	servers := make([]*transport.Server, 0, len(s.servers))
	for srv := range s.servers {
		servers = append(servers, srv)
	}
	s.mu.Unlock()
	var errs []error
	for _, srv := range servers {
		if err := srv.Shutdown(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) == 0 {
		return nil
	}
	// The grace period ran out: the servers cancelled their handlers'
	// contexts; wait for them to return.
	for _, srv := range servers {
		_ = srv.Shutdown(context.Background())
	}
	return errors.Join(errs...)
}

func addrString(a net.Addr) string {
	if a == nil {
		return ""
	}
	return a.String()
}
