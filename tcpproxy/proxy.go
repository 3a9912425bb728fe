package tcpproxy

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"time"

	"github.com/sluice-proxy/sluice/connfilter"
	"github.com/sluice-proxy/sluice/internal/localerr"
	"github.com/sluice-proxy/sluice/internal/zero"
	"github.com/sluice-proxy/sluice/lb"
	"github.com/sluice-proxy/sluice/protocols/proxyproto"
	"github.com/sluice-proxy/sluice/shell"
	"github.com/sluice-proxy/sluice/splice"
	"github.com/sluice-proxy/sluice/transport"
	"github.com/sluice-proxy/sluice/vstream"
)

// Defaults for the zero fields of Config.
const (
	// DefaultConnectTimeout bounds one upstream connection attempt.
	DefaultConnectTimeout = 5 * time.Second
	// DefaultIdleTimeout closes a connection on which no byte moved
	// either way for this long.
	DefaultIdleTimeout = 5 * time.Minute
)

// Config configures a Proxy. Name and Balancer are required. As in every
// service library of sluice, a zero field means its documented default
// and, for a bound, a negative one means none.
type Config struct {
	// Name names the service in metrics and logs.
	Name string
	// Balancer picks upstreams: for every connection, or, with Routes, for
	// those no route takes (nil then closes them with reason "no_route").
	Balancer *lb.Balancer
	// Routes, when set, route on the TLS ClientHello without terminating
	// TLS (only without TLS): the first that matches picks the upstream.
	// Only listeners with routes read ahead, so server-first protocols
	// never wait.
	Routes []Route
	// HelloTimeout bounds the ClientHello's read for Routes: 0 means
	// DefaultHelloTimeout.
	HelloTimeout time.Duration
	// Dial connects to an upstream address; nil uses Dialer. Each call is
	// bounded by ConnectTimeout. The connection must half-close (have a
	// CloseWrite method, as a vstream.Stream does) for a client's
	// half-close to reach the upstream; without one both sides are closed
	// as soon as the client stops sending.
	//
	// Upstreams can be virtual: set Dial to vstream.DialFunc(d) to dial
	// through a vstream.Dialer d, such as a vmux client, a vstream.Listener
	// (an in-process service) or a vstream.DialerFunc choosing by backend
	// address; the balancer's backend addresses are what d receives.
	Dial lb.DialFunc
	// Dialer dials upstreams when Dial is nil ("unix:/path" addresses are
	// Unix sockets, others TCP); nil uses a transport.Dialer without TCP
	// keep-alive. Its
	// Timeout, when zero, becomes ConnectTimeout.
	Dialer *transport.Dialer
	// UpstreamTLS, by backend address, originates TLS to that upstream
	// (transport.NewTLSClient builds one): the handshake is part of the
	// connect, bounded by ConnectTimeout, and a failed one (a certificate
	// or name that does not verify) counts as the upstream's failure,
	// reason "upstream_tls".
	UpstreamTLS map[string]*tls.Config
	// ConnectTimeout bounds one connection attempt: 0 means
	// DefaultConnectTimeout, negative no bound but the Failover budget's.
	ConnectTimeout time.Duration
	// Failover bounds the attempts across backends for one client.
	Failover lb.Failover
	// IdleTimeout closes a connection on which no byte moved either way for
	// this long: 0 means DefaultIdleTimeout, negative never.
	IdleTimeout time.Duration
	// Filter judges connections before any byte is read, and again with the
	// real client address after a PROXY header.
	Filter connfilter.Filter
	// ProxyIn, when set, requires a PROXY header from every peer: peers
	// outside its trusted CIDRs are rejected before anything is read.
	ProxyIn *proxyproto.Acceptor
	// TLS, when set, terminates TLS on client connections (after the
	// PROXY header, if any); the upstream gets the plaintext. The relay
	// then copies through buffers: TLS bytes cannot be spliced.
	TLS *shell.TLS
	// ProxyOut is the PROXY version (1 or 2) written to upstreams on
	// connect; 0 sends none.
	ProxyOut int
	// HashKey returns the key the hash policy uses; nil uses the client IP.
	HashKey func(d *vstream.Digest) []byte
	// Pool moves the bytes; nil uses splice.Default().
	Pool *splice.Pool
	// Metrics receives this service's series; nil disables metrics.
	Metrics *Metrics
	// Logger gets rejections, errors and (with AccessLog) one line per
	// closed connection; nil discards.
	Logger *slog.Logger
	// AccessLog logs one line per closed connection at Info level.
	AccessLog bool
}

// Proxy is a TCP forwarding service. It serves any number of listeners.
type Proxy struct {
	cfg     Config
	log     *slog.Logger
	metrics *serviceMetrics
	dial    lb.DialFunc

	shell *shell.Shell // listeners, filters, PROXY admit, drain
}

// New checks cfg and builds a Proxy.
func New(cfg Config) (*Proxy, error) {
	if cfg.Name == "" {
		return nil, errors.New("tcpproxy: Name is required")
	}
	if cfg.Balancer == nil && len(cfg.Routes) == 0 {
		return nil, errors.New("tcpproxy: Balancer (or Routes) is required")
	}
	for i, r := range cfg.Routes {
		if r.Balancer == nil {
			return nil, fmt.Errorf("tcpproxy: route %d (%s) has no Balancer", i, r.Name)
		}
	}
	if cfg.TLS != nil && len(cfg.Routes) > 0 {
		return nil, errors.New("tcpproxy: Routes route on the ClientHello without terminating; they do not go with TLS")
	}
	if cfg.ProxyOut < 0 || cfg.ProxyOut > 2 {
		return nil, fmt.Errorf("tcpproxy: ProxyOut %d: want 0, 1 or 2", cfg.ProxyOut)
	}
	cfg.ConnectTimeout = zero.Duration(cfg.ConnectTimeout, DefaultConnectTimeout)
	cfg.IdleTimeout = zero.Duration(cfg.IdleTimeout, DefaultIdleTimeout)
	if cfg.Pool == nil {
		cfg.Pool = splice.Default()
	}
	p := &Proxy{cfg: cfg, log: cfg.Logger}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	sh, err := shell.New(shell.Config{
		Name:    cfg.Name,
		Filter:  cfg.Filter,
		ProxyIn: cfg.ProxyIn,
		TLS:     cfg.TLS,
		Handler: p.handle,
		OnReject: func(reason string) {
			if p.metrics != nil {
				p.metrics.rejected(reason)
			}
		},
		OnAcceptError: func(err error) {
			if p.metrics != nil && localerr.Is(err) {
				p.metrics.failed("local_resource")
			}
		},
		Logger: p.log,
	})
	if err != nil {
		return nil, fmt.Errorf("tcpproxy: %w", err)
	}
	p.shell = sh
	p.log = p.log.With("service", cfg.Name)
	if cfg.Metrics != nil {
		var addrs []string
		for _, bal := range p.balancers() {
			for _, b := range bal.Backends() {
				if !slices.Contains(addrs, b.Addr) {
					addrs = append(addrs, b.Addr)
				}
			}
		}
		p.metrics = cfg.Metrics.service(cfg.Name, addrs)
	}
	dial, bounded := cfg.Dial, false
	if dial == nil {
		d := transport.Dialer{KeepAlive: -1}
		if cfg.Dialer != nil {
			d = *cfg.Dialer
		}
		if d.Timeout == 0 {
			d.Timeout = cfg.ConnectTimeout
			if d.Timeout == 0 {
				d.Timeout = -1 // none
			}
		}
		// The dialer bounds each attempt itself: no second timer.
		dial, bounded = DialerFunc(&d), true
	}
	p.dial = p.instrumentDial(dial, bounded)
	return p, nil
}

// HealthChanged records a backend's health flip in metrics and the log. Wire
// it to the Balancer's health observer.
func (p *Proxy) HealthChanged(be *lb.Backend, healthy bool, reason string) {
	if p.metrics != nil {
		p.metrics.health(be.Addr, healthy)
	}
	p.log.Warn("upstream health changed", "upstream", be.Addr, "healthy", healthy, "reason", reason)
}

// instrumentDial wraps dial with connect latency and error metrics and,
// unless dial bounds its attempts itself, a per-attempt timeout.
func (p *Proxy) instrumentDial(dial lb.DialFunc, bounded bool) lb.DialFunc {
	timeout := p.cfg.ConnectTimeout
	return func(ctx context.Context, addr string) (net.Conn, error) {
		if !bounded && timeout > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, timeout)
			defer cancel()
		}
		start := time.Now()
		c, err := dial(ctx, addr)
		if tc := p.cfg.UpstreamTLS[addr]; err == nil && tc != nil {
			hctx := ctx
			if timeout > 0 {
				var cancel context.CancelFunc
				hctx, cancel = context.WithDeadline(ctx, start.Add(timeout))
				defer cancel()
			}
			c, err = transport.DialTLS(hctx, c, addr, tc)
		}
		if p.metrics != nil {
			if um := p.metrics.upstreams[addr]; um != nil {
				um.latency.Observe(time.Since(start).Seconds())
				if err != nil && !localerr.Is(err) {
					um.errors.Inc()
				}
			}
		}
		if err != nil {
			p.log.Debug("upstream connect failed", "upstream", addr, "error", err)
		}
		return c, err
	}
}

// Serve accepts connections on ln until ln is closed, ctx ends or Shutdown
// runs. It returns nil in those cases.
func (p *Proxy) Serve(ctx context.Context, ln net.Listener) error {
	return p.shell.Serve(ctx, ln)
}

// StopAccepting stops accepting on every listener and returns once no
// accept loop runs; open connections go on until Shutdown.
func (p *Proxy) StopAccepting() { p.shell.StopAccepting() }

// Shutdown stops accepting on every listener and waits for open
// connections to finish. When ctx ends first, the connections still open are
// closed, and Shutdown returns ctx's error once their handlers have returned.
func (p *Proxy) Shutdown(ctx context.Context) error {
	return p.shell.Shutdown(ctx)
}

func addrString(a net.Addr) string {
	if a == nil {
		return ""
	}
	return a.String()
}

// DialerFunc adapts a transport.Dialer to the balancer's DialFunc: upstream
// addresses "unix:/path" dial a Unix socket, anything else TCP
// (transport.ParseAddr).
func DialerFunc(d *transport.Dialer) lb.DialFunc { return d.Dial }
