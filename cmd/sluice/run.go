package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/sluice-proxy/sluice/fdpoll"
	"github.com/sluice-proxy/sluice/httpproxy"
	"github.com/sluice-proxy/sluice/shell"
	"github.com/sluice-proxy/sluice/tcpproxy"
	"github.com/sluice-proxy/sluice/udpproxy"
)

// app is a running configuration: its services, listeners and metrics.
type app struct {
	cfg        *Config
	log        *slog.Logger
	reg        *prometheus.Registry
	metrics    *tcpproxy.Metrics
	udpMetrics *udpproxy.Metrics
	// httpMetrics and httpPool are shared by every http: service: one
	// pool of idle upstream connections for the whole process.
	httpMetrics *httpproxy.Metrics
	tlsMetrics  *shell.Metrics
	httpPool    *httpproxy.Pool
	// poller serves the sockets of http: services with poller: own; made
	// by the first of them, nil where the platform has none.
	poller     *fdpoll.Poller
	pollerDone bool

	services []service // every tcp:, udp: and http: service, in that order
	metricsL net.Listener
	metricsS *http.Server

	wg sync.WaitGroup

	mu       sync.Mutex              // guards services and cfg against the admin and upgrade goroutines
	inherit  map[string]net.Listener // during a reload or an upgrade: the listeners the new services take over
	reloads  chan chan error         // POST /-/reload asks the run loop
	reloadM  *reloadMetrics
	upgrades *upgrader // the upgrade socket's side; nil without lifecycle.upgrade_socket
}

// sharedPoller returns the process's fdpoll.Poller, starting it on first
// use; nil (Go's netpoller serves) where the platform has none.
func (a *app) sharedPoller() *fdpoll.Poller {
	if !a.pollerDone {
		a.pollerDone = true
		p, err := fdpoll.New()
		if err != nil {
			a.log.Info("poller: own is not available here, using Go's netpoller", "error", err)
		}
		a.poller = p
	}
	return a.poller
}

// newLogger builds the process logger from the log section.
func newLogger(cfg *Config, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.LogLevel}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// start builds every service and binds every listener. Nothing is served
// until all of them are bound; on any error everything bound is closed.
// inherited, when set, are listening sockets a running sluice handed over
// (an upgrade), by name; start takes those its services and metrics need.
func start(cfg *Config, logw io.Writer, inherited map[string]net.Listener) (_ *app, err error) {
	a := &app{cfg: cfg, log: newLogger(cfg, logw), reg: prometheus.NewRegistry()}
	if inherited != nil {
		a.inherit = maps.Clone(inherited)
		defer func() { a.inherit = nil }()
	}
	a.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if a.metrics, err = tcpproxy.NewMetrics(a.reg); err != nil {
		return nil, err
	}
	if a.udpMetrics, err = udpproxy.NewMetrics(a.reg); err != nil {
		return nil, err
	}
	if a.httpMetrics, err = httpproxy.NewMetrics(a.reg); err != nil {
		return nil, err
	}
	if a.tlsMetrics, err = shell.NewMetrics(a.reg); err != nil {
		return nil, err
	}
	if a.reloadM, err = newReloadMetrics(a.reg); err != nil {
		return nil, err
	}
	a.reloads = make(chan chan error)
	a.httpPool = httpproxy.NewPool(httpproxy.PoolConfig{})
	defer func() {
		if err != nil {
			a.closeListeners()
		}
	}()
	for _, tc := range cfg.TCP {
		s, err := newTCPService(tc, a)
		if err != nil {
			return nil, err
		}
		a.services = append(a.services, s)
	}
	for _, uc := range cfg.UDP {
		s, err := newUDPService(uc, a)
		if err != nil {
			return nil, err
		}
		a.services = append(a.services, s)
	}
	for _, hc := range cfg.HTTP {
		s, err := newHTTPService(hc, a)
		if err != nil {
			return nil, err
		}
		a.services = append(a.services, s)
	}
	if cfg.Metrics != nil {
		var l net.Listener
		if old := a.inherit["metrics "+cfg.Metrics.Listen]; old != nil {
			l, err = a.dupInherited(old, "metrics")
		} else {
			l, err = net.Listen("tcp", cfg.Metrics.Listen)
		}
		if err != nil {
			return nil, fmt.Errorf("metrics.listen: %w", err)
		}
		a.metricsL = l
		mux := http.NewServeMux()
		mux.Handle(cfg.Metrics.Path, promhttp.HandlerFor(a.reg, promhttp.HandlerOpts{Registry: a.reg}))
		a.adminRoutes(mux)
		a.metricsS = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	}
	for _, s := range a.services {
		s.serve(a)
	}
	a.reloadM.loaded(cfg)
	if a.metricsS != nil {
		a.wg.Add(1)
		go a.serveMetrics()
	}
	return a, nil
}

func (a *app) serveMetrics() {
	defer a.wg.Done()
	err := a.metricsS.Serve(a.metricsL)
	if err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
		a.log.Error("metrics server stopped", "error", err)
	}
}

func (a *app) closeListeners() {
	for _, s := range a.services {
		s.close()
	}
	if a.httpPool != nil {
		a.httpPool.Close()
	}
	if a.poller != nil {
		a.poller.Close()
	}
	if a.metricsL != nil {
		a.metricsL.Close()
	}
}

// shutdown stops accepting everywhere, drains open connections for up to
// grace, closes what is left, and stops the metrics server last so the
// drain stays observable.
func (a *app) shutdown(grace time.Duration) {
	a.log.Info("shutting down", "grace", grace)
	if !a.handedOver() {
		a.notify("STOPPING=1") // after an upgrade the successor is the main process
	}
	ctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	var wg sync.WaitGroup
	for _, s := range a.currentServices() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.shutdown(ctx); err != nil {
				a.log.Warn("grace period over: closed what was still open", "service", s.name(), "kind", s.kind(), "error", err)
			}
		}()
	}
	wg.Wait()
	if a.upgrades != nil {
		a.upgrades.ln.Close()
	}
	a.httpPool.Close()
	if a.poller != nil {
		a.poller.Close()
	}
	if a.metricsS != nil {
		a.metricsS.Close()
	}
	a.wg.Wait()
	a.log.Info("stopped")
}

// httpHealthChanged records a health flip of an http: service's upstream.
func (a *app) httpHealthChanged(service, route, upstream string, healthy bool, reason string) {
	a.httpMetrics.UpstreamHealth(service, route, upstream, healthy)
	a.log.Info("upstream health changed", "service", service, "route", route, "upstream", upstream, "healthy", healthy, "reason", reason)
}

// run serves cfg until ctx ends, then drains. ready, when set, is called
// once everything listens.
func run(ctx context.Context, cfg *Config, stdout, stderr io.Writer, ready func(*app)) error {
	return runWith(ctx, cfg, stderr, ready, false)
}

// runWith is run; with upgrade it first takes the listening sockets of the
// sluice running at lifecycle.upgrade_socket, and tells it once it serves.
func runWith(ctx context.Context, cfg *Config, stderr io.Writer, ready func(*app), upgrade bool) error {
	// Caught from the start: a SIGUSR2 or SIGHUP that comes while the
	// services start waits for the loop (unhandled, SIGUSR2 would kill).
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGUSR2)
	defer signal.Stop(sigs)
	var succ *successor
	var inherited map[string]net.Listener
	if upgrade {
		var err error
		if succ, err = receiveSockets(cfg.UpgradeSocket); err != nil {
			return err
		}
		inherited = succ.listeners
	}
	a, err := start(cfg, stderr, inherited)
	if succ != nil {
		succ.closeAll() // the services hold duplicates of what they took
	}
	if err != nil {
		return err
	}
	for _, s := range a.services {
		for _, addr := range s.addrs() {
			a.log.Info("listening", "service", s.name(), "addr", addr.String(), "kind", s.kind())
		}
	}
	if a.metricsL != nil {
		a.log.Info("metrics", "url", "http://"+a.metricsL.Addr().String()+cfg.Metrics.Path)
	}
	if succ != nil {
		if err := succ.serving(); err != nil {
			a.log.Warn("upgrade: serving, but the old process did not confirm", "error", err)
		} else {
			a.log.Info("upgrade: took over from the old process")
		}
	}
	if cfg.UpgradeSocket != "" {
		if err := a.listenUpgrades(cfg.UpgradeSocket); err != nil {
			a.shutdown(0)
			return err
		}
	}
	if succ != nil {
		a.notify(fmt.Sprintf("MAINPID=%d\nREADY=1", os.Getpid()))
	} else {
		a.notify("READY=1")
	}
	if ready != nil {
		ready(a)
	}
	return a.loop(ctx, sigs)
}

// loop serves signals and admin requests until ctx ends or a successor
// has taken over, then drains.
func (a *app) loop(ctx context.Context, sigs <-chan os.Signal) error {
	var handedOver chan struct{}
	if a.upgrades != nil {
		handedOver = a.upgrades.done
	}
	for {
		select {
		case sig := <-sigs:
			if sig == syscall.SIGUSR2 {
				if a.upgrades == nil {
					a.log.Error("SIGUSR2: no lifecycle.upgrade_socket configured; no upgrade")
					continue
				}
				a.startSuccessor()
				continue
			}
			a.reloadFile(a.cfg.Path)
		case reply := <-a.reloads:
			reply <- a.reloadFile(a.cfg.Path)
		case <-handedOver:
			a.shutdown(a.cfg.Grace)
			return nil
		case <-ctx.Done():
			a.shutdown(a.cfg.Grace)
			return nil
		}
	}
}
