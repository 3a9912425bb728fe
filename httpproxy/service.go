package httpproxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/quic-go/quic-go/http3"

	"github.com/sluice-proxy/sluice/connfilter"
	"github.com/sluice-proxy/sluice/fdpoll"
	"github.com/sluice-proxy/sluice/internal/localerr"
	"github.com/sluice-proxy/sluice/internal/zero"
	"github.com/sluice-proxy/sluice/protocols/http1"
	"github.com/sluice-proxy/sluice/protocols/http2"
	"github.com/sluice-proxy/sluice/protocols/proxyproto"
	"github.com/sluice-proxy/sluice/shell"
	"github.com/sluice-proxy/sluice/vstream"
)

// Default timeouts.
const (
	DefaultHeaderReadTimeout = 10 * time.Second
	DefaultIdleTimeout       = 60 * time.Second
	DefaultBodyReadTimeout   = 60 * time.Second
	DefaultWriteTimeout      = 60 * time.Second
	DefaultConnectTimeout    = 5 * time.Second
	DefaultUpstreamTimeout   = 60 * time.Second
	DefaultLingerTimeout     = 5 * time.Second
	DefaultMaxRetries        = 3
)

// MaxLingerBytes bounds what a lingering close reads and drops (see
// Timeouts.Linger); a client still sending past it has its connection
// closed (reset) anyway.
const MaxLingerBytes = 1 << 20

// Timeouts bound every wait on a peer. Zero fields mean the defaults;
// negative ones mean no bound.
type Timeouts struct {
	// HeaderRead bounds the read of a whole request head, from its first
	// byte (or from accept, for a connection's first request). A client
	// that has sent part of a head by then gets 408.
	HeaderRead time.Duration
	// Idle bounds the wait for the next request on a kept-alive
	// connection; the connection is closed quietly when it ends.
	Idle time.Duration
	// BodyRead bounds each read of a request body from the client.
	BodyRead time.Duration
	// Write bounds each write to the client.
	Write time.Duration
	// Connect bounds an upstream connect (Peer.ConnectTimeout overrides it):
	// 504 when it runs out.
	Connect time.Duration
	// UpstreamRead bounds the wait for an upstream's response head and each
	// read of its body (Peer.ReadTimeout overrides it): 504 when it runs
	// out before the head.
	UpstreamRead time.Duration
	// UpstreamWrite bounds each write upstream (Peer.WriteTimeout overrides
	// it).
	UpstreamWrite time.Duration
	// Linger bounds the lingering close of a connection answered before
	// its request was read whole (400, 408, 413, 414, 431, an upstream's
	// early answer): the proxy half-closes, then reads and drops what the
	// client still sends, until the client closes, Linger passes or
	// MaxLingerBytes were dropped, and only then closes. Closing at once
	// with request bytes unread makes the kernel send a reset, which can
	// destroy the response before the client has read it. HAProxy and
	// nginx (lingering_close) do the same. Negative turns it off.
	Linger time.Duration
}

func (t Timeouts) withDefaults() Timeouts {
	t.HeaderRead = zero.Duration(t.HeaderRead, DefaultHeaderReadTimeout)
	t.Idle = zero.Duration(t.Idle, DefaultIdleTimeout)
	t.BodyRead = zero.Duration(t.BodyRead, DefaultBodyReadTimeout)
	t.Write = zero.Duration(t.Write, DefaultWriteTimeout)
	t.Connect = zero.Duration(t.Connect, DefaultConnectTimeout)
	t.UpstreamRead = zero.Duration(t.UpstreamRead, DefaultUpstreamTimeout)
	t.UpstreamWrite = zero.Duration(t.UpstreamWrite, DefaultWriteTimeout)
	t.Linger = zero.Duration(t.Linger, DefaultLingerTimeout)
	return t
}

// Config configures a Service.
type Config struct {
	// Name names the service in metrics, logs and connfilter.Info.
	Name string
	// Limits bound the request heads read from clients and the response
	// heads read from upstreams.
	Limits http1.Limits
	// Timeouts bound the waits on clients and upstreams.
	Timeouts Timeouts
	// Pool holds idle upstream connections. Share one Pool between services
	// that reach the same upstreams. Nil means a pool of the Service's own,
	// closed by Shutdown.
	Pool *Pool
	// MaxRequestBody bounds a request body: a larger Content-Length gets
	// 413 before anything goes upstream, and a chunked body that grows past
	// it ends the exchange (413 when no response has started). 0 means no
	// bound.
	MaxRequestBody int64
	// SpliceBody is how many bytes of a Content-Length response body must
	// be left, once the bytes read with the head are passed on, for the
	// rest to move with splice(2) (splice.Pool.CopyWith) instead of through
	// user space: 0 means 256 KiB, negative never. It applies when both
	// connections are sockets (otherwise the copy is buffered) and no
	// ResponseBodyFilter is set; the body then moves with one idle bound,
	// the upstream read timeout, both ways.
	SpliceBody int64
	// Dial connects to peers that have no Dialer of their own; nil means a
	// net.Dialer. Set it for upstream socket options (source address,
	// keep-alive, buffers).
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// MaxRetries bounds how often UpstreamPeer is asked again after a
	// retryable failure: 0 means DefaultMaxRetries, negative means never.
	MaxRetries int
	// XForwardedFor appends the client's address to X-Forwarded-For (and
	// sets X-Forwarded-Proto) on requests sent upstream.
	XForwardedFor bool
	// Forwarded appends an RFC 7239 Forwarded element (for, proto) to
	// requests sent upstream.
	Forwarded bool
	// Filter judges connections accepted by Serve, before any byte is read.
	// With ProxyIn it judges them again, at connfilter.StageProxy, with the
	// client the PROXY header names.
	Filter connfilter.Filter
	// ProxyIn, when set, requires a PROXY v1/v2 header on every connection
	// Serve accepts, from its trusted peers only (others are refused before
	// any byte is read). The header's client becomes the Session's
	// ClientAddr.
	ProxyIn *proxyproto.Acceptor
	// H2C serves HTTP/2 with prior knowledge on cleartext connections: a
	// connection that starts with the HTTP/2 preface is HTTP/2, anything
	// else HTTP/1.1. Over TLS, HTTP/2 is chosen by ALPN ("h2" in the TLS
	// server's ALPN list). Every stream runs the phases as a request.
	H2C bool
	// H2COnly, with H2C, closes a cleartext connection that does not start
	// with the HTTP/2 preface instead of serving it as HTTP/1.1 (an
	// HTTP/2-only listener, as RFC 9113 3.4 has it).
	H2COnly bool
	// HTTP2 bounds each HTTP/2 connection (see protocols/http2.Limits).
	HTTP2 http2.Limits
	// HTTP3 tunes ServeHTTP3 (source address validation).
	HTTP3 HTTP3Config
	// AltSvc, when set, is the Alt-Svc field added to every response that
	// has none (`h3=":443"; ma=86400` advertises HTTP/3).
	AltSvc string
	// MaxMirrors bounds the mirror copies (Session.Mirror) in flight; 0
	// means DefaultMaxMirrors.
	MaxMirrors int
	// Connect, when set, takes CONNECT requests (HTTP/1.1 and HTTP/2) to
	// the targets it allows; without it they are answered 405.
	Connect *ConnectConfig
	// TLS, when set, terminates TLS on the connections Serve accepts
	// (after the PROXY header, if any): HTTPS. Its Server's ALPN should
	// offer "http/1.1". Session.Digest then carries the handshake.
	TLS *shell.TLS
	// Metrics receives the service's series; nil records nothing.
	Metrics *Metrics
	// Logger receives errors and, with AccessLog, one line per request;
	// nil discards them.
	Logger *slog.Logger
	// AccessLog logs one line per request to Logger.
	AccessLog bool
	// Poller, when set, serves the TCP and Unix sockets the Service accepts
	// (in Serve) and dials (through Dial) from an epoll set of its own
	// instead of Go's netpoller: readers woken in the order their sockets
	// became ready, and no read that finds nothing after a short one (see
	// package fdpoll). Share one Poller per process.
	Poller *fdpoll.Poller
}

// Service is an HTTP proxy: it serves HTTP/1.x on any stream, runs every
// request through the phases of its Proxy, and forwards it upstream over a
// shared pool of connections.
type Service struct {
	cfg      Config
	ph       phases
	to       Timeouts
	pool     *Pool
	ownPool  bool
	retries  int
	log      *slog.Logger
	dial     func(ctx context.Context, network, addr string) (net.Conn, error)
	m        *serviceMetrics
	connPool sync.Pool // *h1conn
	// bodyBufs holds the buffers response bodies are read into (see
	// relayResponse): taken for one body, so an idle keep-alive connection
	// holds none.
	bodyBufs sync.Pool // *[]byte

	draining atomic.Bool
	// drain is closed when Shutdown starts: HTTP/2 connections send
	// GOAWAY and end once their streams have.
	drain     chan struct{}
	drainOnce sync.Once

	// Mirror copies (Session.Mirror): slots bound them, mirrorCtx ends
	// them at Shutdown, mirrorWG waits for them.
	mirrorSlots  chan struct{}
	mirrorCtx    context.Context
	mirrorCancel context.CancelFunc
	mirrorWG     sync.WaitGroup

	mu    sync.Mutex
	conns map[*h1conn]struct{}
	h3    []*http3.Server // ServeHTTP3's, for Shutdown
	shell *shell.Shell    // listeners, filters, PROXY admit
	idle  chan struct{}   // closed when conns drops to 0 while draining
}

// New returns a Service that proxies through p.
func New(p Proxy, cfg Config) (*Service, error) {
	if p == nil {
		return nil, errors.New("httpproxy: New needs a Proxy")
	}
	if cfg.Name == "" {
		cfg.Name = "http"
	}
	s := &Service{
		cfg:     cfg,
		ph:      discover(p),
		to:      cfg.Timeouts.withDefaults(),
		pool:    cfg.Pool,
		retries: cfg.MaxRetries,
		log:     cfg.Logger,
		conns:   make(map[*h1conn]struct{}),
		drain:   make(chan struct{}),
	}
	slots := cfg.MaxMirrors
	switch {
	case slots == 0:
		slots = DefaultMaxMirrors
	case slots < 0:
		slots = 0 // none: every copy is dropped
	}
	s.mirrorSlots = make(chan struct{}, slots)
	s.mirrorCtx, s.mirrorCancel = context.WithCancel(context.Background())
	if s.pool == nil {
		s.pool = NewPool(PoolConfig{})
		s.ownPool = true
	}
	switch {
	case s.retries == 0:
		s.retries = DefaultMaxRetries
	case s.retries < 0:
		s.retries = 0
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.dial = cfg.Dial; s.dial == nil {
		s.dial = (&net.Dialer{}).DialContext
	}
	if cfg.Metrics != nil {
		s.m = cfg.Metrics.service(cfg.Name)
	}
	var adopt func(net.Conn) net.Conn
	if cfg.Poller != nil {
		adopt = s.adopt
	}
	sh, err := shell.New(shell.Config{
		Name:    cfg.Name,
		Filter:  cfg.Filter,
		ProxyIn: cfg.ProxyIn,
		TLS:     cfg.TLS,
		Adopt:   adopt,
		Handler: s.serveAccepted,
		OnReject: func(reason string) {
			if s.m != nil {
				s.m.rejected(reason)
			}
		},
		OnAcceptError: func(err error) {
			if s.m != nil && localerr.Is(err) {
				s.m.localResource()
			}
		},
		Logger: s.log,
	})
	if err != nil {
		return nil, fmt.Errorf("httpproxy: %w", err)
	}
	s.shell = sh
	return s, nil
}

// Serve accepts connections on ln and serves each until ln is closed, ctx
// ends or Shutdown runs; it returns nil in those cases. ln may be a socket
// listener or a vstream.Listener fed by any producer of streams (vmux,
// QUIC, in-memory pipes).
func (s *Service) Serve(ctx context.Context, ln net.Listener) error {
	return s.shell.Serve(ctx, ln)
}

// adopt moves c to the configured Poller when c is a socket it can take;
// otherwise, or when that fails, c is served as it is.
func (s *Service) adopt(c net.Conn) net.Conn {
	if s.cfg.Poller == nil {
		return c
	}
	pc, err := s.cfg.Poller.Wrap(c)
	if err != nil {
		return c
	}
	return pc
}

// ServeStream serves one stream until the client or the Service ends it,
// then closes it: HTTP/1.x, or HTTP/2 when Config.H2C is set and the stream
// starts with the preface, or when st is a *tls.Conn that chose h2 (a
// caller that terminated TLS itself). Whatever yields streams (a custom
// protocol's session, a tunnel, a test's vstream.Pipe) can feed the
// pipeline through it. ctx ends the connection when it is cancelled.
func (s *Service) ServeStream(ctx context.Context, st net.Conn) {
	s.serveAccepted(ctx, st, vstream.NewDigest(s.cfg.Name, st))
}

// StopAccepting stops accepting on every listener and returns once no
// accept loop runs; open connections go on until Shutdown.
func (s *Service) StopAccepting() { s.shell.StopAccepting() }

// Shutdown stops accepting, closes connections idle between requests,
// lets requests in flight finish (their responses say Connection: close),
// and waits for every connection to end. When ctx ends first, the
// remaining connections are closed and ctx's error is returned. A Pool the
// Service made itself is closed at the end.
func (s *Service) Shutdown(ctx context.Context) error {
	s.drainOnce.Do(func() { close(s.drain) })
	s.mu.Lock()
	s.draining.Store(true)
	if s.idle == nil {
		s.idle = make(chan struct{})
		if len(s.conns) == 0 {
			close(s.idle)
		}
	}
	// Connections waiting for a request are woken to notice the drain.
	// This happens under s.mu: a connection is untracked under it too,
	// before its h1conn is recycled.
	for c := range s.conns {
		c.wake()
	}
	idle := s.idle
	s.mu.Unlock()

	var errs []error
	s.shutdownH3(ctx)
	if err := s.shell.Shutdown(ctx); err != nil {
		errs = append(errs, err)
	}
	select {
	case <-idle:
	case <-ctx.Done():
		s.mu.Lock()
		for c := range s.conns {
			c.abort()
		}
		s.mu.Unlock()
		<-idle
		errs = append(errs, ctx.Err())
	}
	s.mirrorCancel()
	s.mirrorWG.Wait()
	if s.ownPool {
		s.pool.Close()
	}
	if len(errs) > 0 {
		return fmt.Errorf("httpproxy: shutdown: %w", errors.Join(errs...))
	}
	return nil
}

// track registers c, draining or not: a connection the listener accepted
// as Shutdown began (or, on a reload, as its successor took the socket
// over) is served its first request rather than refused.
func (s *Service) track(c *h1conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.conns[c] = struct{}{}
}

func (s *Service) untrack(c *h1conn) {
	s.mu.Lock()
	delete(s.conns, c)
	if s.draining.Load() && len(s.conns) == 0 && s.idle != nil {
		select {
		case <-s.idle:
		default:
			close(s.idle)
		}
	}
	s.mu.Unlock()
}

// bodyBuf takes a buffer from bodyBufs, making one when it is empty.
func (s *Service) bodyBuf() *[]byte {
	if b, ok := s.bodyBufs.Get().(*[]byte); ok {
		return b
	}
	b := make([]byte, flushAt)
	return &b
}
