package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
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

	mu      sync.Mutex              // guards services against the admin handlers
	inherit map[string]net.Listener // during a reload: the listeners the new services take over
	reloads chan chan error         // POST /-/reload asks the run loop
	reloadM *reloadMetrics
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
func start(cfg *Config, logw io.Writer) (_ *app, err error) {
	a := &app{cfg: cfg, log: newLogger(cfg, logw), reg: prometheus.NewRegistry()}
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
		l, err := net.Listen("tcp", cfg.Metrics.Listen)
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
	if err := a.metricsS.Serve(a.metricsL); err != nil && !errors.Is(err, http.ErrServerClosed) {
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
	a, err := start(cfg, stderr)
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
	if ready != nil {
		ready(a)
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		select {
		case <-hup:
			a.reloadFile(cfg.Path)
		case reply := <-a.reloads:
			reply <- a.reloadFile(cfg.Path)
		case <-ctx.Done():
			a.shutdown(cfg.Grace)
			return nil
		}
	}
}
