package udpproxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/netip"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluice-proxy/sluice/connfilter"
	"github.com/sluice-proxy/sluice/lb"
)

// Proxy is a UDP forwarding service: a session table keyed by client
// address, each session bound to one upstream and one upstream socket, run
// by a few event loops with batched socket I/O.
type Proxy struct {
	cfg     Config
	log     *slog.Logger
	bal     *lb.Balancer
	ups     []*upstream
	byBE    map[*lb.Backend]*upstream
	listen  []netip.AddrPort // resolved Config.Listen
	filter  connfilter.Filter
	metrics *serviceMetrics
	proxyV2 bool
	idle    int64 // ns
	workers int
	bufSize int

	// now is the monotonic clock in ns; tests replace it before Serve.
	now func() int64

	// gsoBroken is set when a GSO send failed with EIO (no checksum
	// offload on the route): GSO stays off from then on.
	gsoBroken atomic.Bool
	// gsoFault, set by tests, fails every GSO send with this errno.
	gsoFault syscall.Errno
	// stopping tells the workers to return.
	stopping atomic.Bool

	mu      sync.Mutex
	state   int
	socks   sockets // bound listening sockets (platform specific)
	addrs   []net.Addr
	running []*worker
	wg      sync.WaitGroup
	stop    chan struct{} // closed by Shutdown
	done    chan struct{} // closed when every worker has returned
	started chan struct{} // closed when the workers run
}

// Proxy states.
const (
	stateNew = iota
	stateBound
	stateServing
	stateClosed
)

// upstream is one backend with its resolved address.
type upstream struct {
	idx  int
	be   *lb.Backend
	addr string // as configured, for logs
	ap   netip.AddrPort
	m    *upstreamMetrics
}

// New checks cfg, builds the balancer (unless cfg.Balancer is given) and the
// filters, and resolves the upstream addresses. It binds nothing; see Listen
// and Serve.
func New(cfg Config) (*Proxy, error) {
	ver, err := cfg.check()
	if err != nil {
		return nil, err
	}
	cfg.setDefaults()
	p := &Proxy{
		cfg:     cfg,
		log:     cfg.Logger,
		proxyV2: ver == 2,
		idle:    int64(cfg.IdleTimeout),
		bufSize: cfg.MaxDatagramSize,
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
		started: make(chan struct{}),
	}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	p.log = p.log.With("service", cfg.Name)
	epoch := time.Now()
	p.now = func() int64 { return int64(time.Since(epoch)) }

	p.workers = cfg.Workers
	if p.workers == 0 {
		p.workers = runtime.GOMAXPROCS(0)
	}
	// Every worker needs a share of at least one session.
	p.workers = max(1, min(p.workers, cfg.MaxSessions))

	if err := p.resolveListen(); err != nil {
		return nil, err
	}
	names, err := p.buildUpstreams()
	if err != nil {
		return nil, err
	}
	if p.filter, err = buildFilter(cfg.Filter, cfg.CustomFilter); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrInvalidConfig, cfg.Name, err)
	}

	m := cfg.Metrics
	if m == nil {
		if m, err = NewMetrics(prometheus.NewRegistry()); err != nil {
			return nil, err
		}
	}
	p.metrics = m.service(cfg.Name, names)
	for _, u := range p.ups {
		u.m = p.metrics.upstreams[u.idx]
	}
	return p, nil
}

// check refuses a Config New cannot run and returns the PROXY version to
// send (0 for none).
func (cfg *Config) check() (int, error) {
	if cfg.Name == "" {
		return 0, invalid("Name is required")
	}
	if len(cfg.Listen) == 0 {
		return 0, invalid("%s: Listen is empty", cfg.Name)
	}
	if cfg.Balancer == nil && len(cfg.Upstreams) == 0 {
		return 0, invalid("%s: no Upstreams", cfg.Name)
	}
	if cfg.IdleTimeout < 0 || cfg.MaxSessions < 0 || cfg.Workers < 0 {
		return 0, invalid("%s: negative IdleTimeout, MaxSessions or Workers", cfg.Name)
	}
	if cfg.MaxDatagramSize < 0 || cfg.MaxDatagramSize > 65535 {
		return 0, invalid("%s: MaxDatagramSize %d outside 1..65535", cfg.Name, cfg.MaxDatagramSize)
	}
	if cfg.Filter.SessionRatePerIP < 0 || math.IsNaN(cfg.Filter.SessionRatePerIP) || cfg.Filter.SessionBurstPerIP < 0 {
		return 0, invalid("%s: negative or NaN session rate or burst", cfg.Name)
	}
	switch cfg.ProxyOut {
	case 0, 2:
	case 1:
		return 0, invalid("%s: PROXY protocol v1 cannot describe UDP; use v2", cfg.Name)
	default:
		return 0, invalid("%s: ProxyOut %d: want 0 or 2", cfg.Name, cfg.ProxyOut)
	}
	return cfg.ProxyOut, nil
}

// setDefaults gives every zero field its default.
func (cfg *Config) setDefaults() {
	if cfg.IdleTimeout == 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	if cfg.MaxSessions == 0 {
		cfg.MaxSessions = DefaultMaxSessions
	}
	if cfg.MaxDatagramSize == 0 {
		cfg.MaxDatagramSize = DefaultMaxDatagramSize
	}
	if cfg.SocketBuffer == 0 {
		cfg.SocketBuffer = DefaultSocketBuffer
	}
}

// resolveListen resolves the listen addresses into p.listen.
func (p *Proxy) resolveListen() error {
	for _, s := range p.cfg.Listen {
		ap, err := resolveUDP(s)
		if err != nil {
			return fmt.Errorf("%w: %s: listen %q: %w", ErrInvalidConfig, p.cfg.Name, s, err)
		}
		// With SO_REUSEPORT a repeated address would bind twice and split
		// its traffic; port 0 asks for a new port each time.
		if ap.Port() != 0 && slices.Contains(p.listen, ap) {
			return invalid("%s: listen address %s given twice", p.cfg.Name, ap)
		}
		p.listen = append(p.listen, ap)
	}
	return nil
}

// buildUpstreams makes the balancer (unless the Config brings one) and an
// upstream per backend, and returns the backends' names.
func (p *Proxy) buildUpstreams() ([]string, error) {
	cfg := &p.cfg
	if p.bal = cfg.Balancer; p.bal == nil {
		policy := cfg.Balance
		if policy == "" {
			policy = lb.Hash
		}
		var err error
		if p.bal, err = lb.New(cfg.Upstreams, policy, lb.OnHealthChange(p.HealthChanged)); err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrInvalidConfig, cfg.Name, err)
		}
	}
	p.byBE = make(map[*lb.Backend]*upstream)
	var names []string
	for i, be := range p.bal.Backends() {
		ap, err := resolveUDP(be.Addr)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: upstream %q: %w", ErrInvalidConfig, cfg.Name, be.Addr, err)
		}
		if ap.Port() == 0 || ap.Addr().IsUnspecified() {
			return nil, invalid("%s: upstream %q: need a host and a port", cfg.Name, be.Addr)
		}
		u := &upstream{idx: i, be: be, addr: be.Addr, ap: ap}
		p.ups = append(p.ups, u)
		p.byBE[be] = u
		names = append(names, be.Addr)
	}
	return names, nil
}

// resolveUDP turns host:port into an address, resolving a name once.
func resolveUDP(s string) (netip.AddrPort, error) {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return netip.AddrPortFrom(ap.Addr().WithZone(""), ap.Port()), nil
	}
	ua, err := net.ResolveUDPAddr("udp", s)
	if err != nil {
		return netip.AddrPort{}, err
	}
	if ua.IP == nil { // ":53": every address, dual-stack
		return netip.AddrPortFrom(netip.IPv6Unspecified(), uint16(ua.Port)), nil
	}
	ip, ok := netip.AddrFromSlice(ua.IP)
	if !ok {
		return netip.AddrPort{}, fmt.Errorf("bad address %v", ua.IP)
	}
	if ip.Is4In6() {
		ip = ip.Unmap()
	}
	return netip.AddrPortFrom(ip, uint16(ua.Port)), nil
}

// buildFilter chains the built-ins (CIDR lists first: cheapest, and a denied
// client must not use up rate tokens) and the custom filter.
func buildFilter(fc FilterConfig, custom connfilter.Filter) (connfilter.Filter, error) {
	var fs []connfilter.Filter
	if len(fc.Allow)+len(fc.Deny) > 0 {
		c, err := connfilter.NewCIDR(fc.Allow, fc.Deny)
		if err != nil {
			return nil, err
		}
		fs = append(fs, c)
	}
	if fc.SessionRatePerIP > 0 {
		fs = append(fs, connfilter.NewRate(fc.SessionRatePerIP, fc.SessionBurstPerIP))
	}
	if custom != nil {
		fs = append(fs, custom)
	}
	switch len(fs) {
	case 0:
		return nil, nil
	case 1:
		return fs[0], nil
	}
	return connfilter.Chain(fs...), nil
}

// Balancer returns the balancer that picks upstreams for new sessions.
func (p *Proxy) Balancer() *lb.Balancer { return p.bal }

// HealthChanged records a backend's health flip in metrics and the log. New
// wires it to the balancer it builds; wire it to Config.Balancer's
// lb.OnHealthChange when you bring your own.
func (p *Proxy) HealthChanged(be *lb.Backend, healthy bool, reason string) {
	if p.metrics != nil {
		for _, u := range p.ups {
			if u.be == be {
				if healthy {
					u.m.healthy.Set(1)
				} else {
					u.m.healthy.Set(0)
				}
			}
		}
	}
	p.log.Warn("upstream health changed", "upstream", be.Addr, "healthy", healthy, "reason", reason)
}

// Listen binds the sockets: for each Config.Listen address, one socket per
// worker, sharing the port through SO_REUSEPORT when there are several
// workers. Serve calls it when it has not been called; calling it first
// reports bind errors before serving. Listen after Shutdown fails with
// net.ErrClosed.
func (p *Proxy) Listen() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch p.state {
	case stateNew:
	case stateClosed:
		return fmt.Errorf("udpproxy: %s: %w", p.cfg.Name, net.ErrClosed)
	default:
		return nil
	}
	if err := p.bind(); err != nil {
		return fmt.Errorf("udpproxy: %s: %w", p.cfg.Name, err)
	}
	p.state = stateBound
	return nil
}

// Addrs returns the bound addresses, one per Config.Listen entry in order
// (with the port the system chose for port 0), or nil before Listen.
func (p *Proxy) Addrs() []net.Addr {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]net.Addr(nil), p.addrs...)
}

// Serve binds (if Listen was not called) and runs the workers until ctx ends
// or Shutdown is called, then closes every session and socket and returns
// nil. Serve may be called once; after Shutdown it returns nil at once.
func (p *Proxy) Serve(ctx context.Context) error {
	if err := p.Listen(); err != nil {
		if errors.Is(err, net.ErrClosed) {
			return nil
		}
		return err
	}
	p.mu.Lock()
	switch p.state {
	case stateClosed:
		p.mu.Unlock()
		return nil
	case stateServing:
		p.mu.Unlock()
		return fmt.Errorf("udpproxy: %s: Serve called twice", p.cfg.Name)
	}
	if err := p.start(); err != nil {
		p.mu.Unlock()
		return fmt.Errorf("udpproxy: %s: %w", p.cfg.Name, err)
	}
	p.state = stateServing
	p.mu.Unlock()
	close(p.started)
	go p.waitWorkers()

	select {
	case <-ctx.Done():
		p.signalStop()
	case <-p.stop:
	case <-p.done: // workers failed on their own
	}
	<-p.done
	p.mu.Lock()
	p.state = stateClosed
	p.mu.Unlock()
	return nil
}

// waitWorkers closes p.done once every worker has returned.
func (p *Proxy) waitWorkers() {
	p.wg.Wait()
	close(p.done)
}

// Shutdown stops the service: the workers close every session (logged and
// counted with reason "shutdown") and their sockets. It waits for them until
// ctx ends and then returns ctx's error. UDP has no connections to drain, so
// shutdown is prompt.
func (p *Proxy) Shutdown(ctx context.Context) error {
	p.mu.Lock()
	prev := p.state
	p.state = stateClosed
	select {
	case <-p.stop:
	default:
		close(p.stop)
	}
	if prev != stateServing {
		if prev == stateBound {
			p.unbind()
		}
		p.mu.Unlock()
		return nil
	}
	p.mu.Unlock()
	p.signalStop()
	select {
	case <-p.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// do runs fn on every running worker, inside its loop, and waits for all of
// them. It reports false when the service is not running.
func (p *Proxy) do(fn func(w *worker)) bool {
	p.mu.Lock()
	ws := append([]*worker(nil), p.running...)
	serving := p.state == stateServing
	p.mu.Unlock()
	if !serving {
		return false
	}
	var wg sync.WaitGroup
	for _, w := range ws {
		wg.Add(1)
		if !w.post(func(w *worker) { fn(w); wg.Done() }) {
			wg.Done()
		}
	}
	wg.Wait()
	return true
}
