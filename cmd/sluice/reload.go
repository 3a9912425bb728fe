package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"reflect"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// A reload (SIGHUP, POST /-/reload) reads and validates the whole config
// file again and applies the difference without refusing a connection:
// a service whose validated config is unchanged keeps running as it is
// (its sockets, balancers, health state; its CIDR and TLS files are re-read
// as before); a changed or new one is built afresh, taking over the
// running listening socket of every address it shares with the old
// services (a dup of the descriptor, so the socket is never closed and its
// accept queue never refused); only then do the replaced and removed
// services stop accepting and drain within shutdown.grace, on the settings
// they started with. A config that does not validate, or an address that
// cannot be bound, fails the whole reload and changes nothing.

// reloadMetrics count reloads.
type reloadMetrics struct {
	total   *prometheus.CounterVec
	last    prometheus.Gauge
	cfgHash *prometheus.GaugeVec
}

func newReloadMetrics(reg prometheus.Registerer) (*reloadMetrics, error) {
	m := &reloadMetrics{
		total: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sluice_reloads_total",
			Help: "Config reloads by result: ok, invalid (the file did not validate), failed (it could not be applied)."}, []string{"result"}),
		last: prometheus.NewGauge(prometheus.GaugeOpts{Name: "sluice_reload_last_success_timestamp_seconds",
			Help: "When the running config was loaded (start or the last successful reload), in Unix seconds."}),
		cfgHash: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "sluice_config_info",
			Help: "1, labelled with the SHA-256 (first 16 hex digits) of the running config file."}, []string{"sha256"}),
	}
	for _, c := range []prometheus.Collector{m.total, m.last, m.cfgHash} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	for _, r := range []string{"ok", "invalid", "failed"} {
		m.total.WithLabelValues(r)
	}
	return m, nil
}

// loaded records a config now running.
func (m *reloadMetrics) loaded(cfg *Config) {
	m.last.SetToCurrentTime()
	m.cfgHash.Reset()
	m.cfgHash.WithLabelValues(cfg.Hash).Set(1)
}

// configHash is the label of a config file's contents.
func configHash(data []byte) string {
	h := sha256.Sum256(data)
	return hex.EncodeToString(h[:8])
}

// takeOver returns, during a reload, a listener on the socket a running
// service already listens on at addr (nil when none does): a duplicate of
// its descriptor, so the socket outlives the old service's close.
func (a *app) takeOver(kind, name string, addr Addr) (net.Listener, error) {
	// The same service's socket first: "127.0.0.1:0" in two services
	// names two sockets. A fixed address may move between services.
	key := kind + " " + name + " " + addr.String()
	old := a.inherit[key]
	if old == nil {
		key = addr.String()
		if old = a.inherit[key]; old == nil || strings.HasSuffix(key, ":0") {
			return nil, nil
		}
	}
	return a.dupInherited(old, addr.String())
}

// dupInherited returns a listener on old's socket (a duplicate descriptor)
// and forgets old, which only one successor may take.
func (a *app) dupInherited(old net.Listener, what string) (net.Listener, error) {
	for k, l := range a.inherit {
		if l == old {
			delete(a.inherit, k) // one successor per socket
		}
	}
	f, ok := old.(interface{ File() (*os.File, error) })
	if !ok {
		return nil, fmt.Errorf("cannot take over %s (%T)", what, old)
	}
	file, err := f.File()
	if err != nil {
		return nil, err
	}
	defer file.Close()
	if ul, ok := old.(*net.UnixListener); ok {
		ul.SetUnlinkOnClose(false) // the path is the new service's now
	}
	return net.FileListener(file)
}

// reloadFile re-reads path and applies it; it logs and counts the outcome.
func (a *app) reloadFile(path string) error {
	a.notify(reloadingState())
	defer a.notify("READY=1")
	if path == "" {
		a.reloadFiles(a.currentServices())
		return nil
	}
	cfg, err := loadConfig(path)
	if err != nil {
		a.reloadM.total.WithLabelValues("invalid").Inc()
		a.log.Error("reload refused: the config is invalid; the running one stays", "error", err)
		return err
	}
	if err := a.apply(cfg); err != nil {
		a.reloadM.total.WithLabelValues("failed").Inc()
		a.log.Error("reload failed; the running config stays", "error", err)
		return err
	}
	a.reloadM.total.WithLabelValues("ok").Inc()
	a.reloadM.loaded(cfg)
	a.log.Info("config reloaded", "file", path, "sha256", cfg.Hash)
	return nil
}

// apply replaces the running services by next's (see the top of this file).
func (a *app) apply(next *Config) error {
	if process(a.cfg) != process(next) {
		a.log.Warn("reload: log, metrics and shutdown settings take effect at the next start; services are reloaded")
	}
	old := a.currentServices()
	byName := make(map[string]service, len(old))
	a.inherit = make(map[string]net.Listener)
	defer func() { a.inherit = nil }()
	for _, s := range old {
		byName[s.kind()+" "+s.name()] = s
		for addr, l := range s.sockets() {
			a.inherit[s.kind()+" "+s.name()+" "+addr] = l
			a.inherit[addr] = l
		}
	}
	var list, built []service
	kept := make(map[service]bool)
	build := func(kind, name string, cfg any, mk func() (service, error)) error {
		if s := byName[kind+" "+name]; s != nil && reflect.DeepEqual(s.config(), cfg) {
			list, kept[s] = append(list, s), true
			return nil
		}
		s, err := mk()
		if err != nil {
			return err
		}
		if prev := byName[kind+" "+name]; prev != nil {
			// Upstreams it shares with the service it replaces keep
			// their health state (a down one is not picked again).
			for _, nb := range s.pools() {
				for _, ob := range prev.pools() {
					nb.InheritHealth(ob)
				}
			}
		}
		list, built = append(list, s), append(built, s)
		return nil
	}
	err := a.buildAll(next, build)
	if err != nil {
		for _, s := range built {
			s.close()
		}
		return err
	}
	var drained []service
	for _, s := range old {
		if !kept[s] {
			drained = append(drained, s)
			s.stopAccepting() // from here only the successors accept
		}
	}
	for _, s := range built {
		s.serve(a)
		for _, addr := range s.addrs() {
			a.log.Info("listening", "service", s.name(), "addr", addr.String(), "kind", s.kind())
		}
	}
	a.mu.Lock()
	a.services = list
	a.cfg = withServices(a.cfg, next)
	a.mu.Unlock()
	a.drain(drained)
	a.reloadFiles(keptList(list, kept))
	return nil
}

// buildAll builds next's services in order through build.
func (a *app) buildAll(next *Config, build func(kind, name string, cfg any, mk func() (service, error)) error) error {
	for _, tc := range next.TCP {
		if err := build("tcp", tc.Name, tc, func() (service, error) { return newTCPService(tc, a) }); err != nil {
			return err
		}
	}
	for _, uc := range next.UDP {
		if err := build("udp", uc.Name, uc, func() (service, error) { return newUDPService(uc, a) }); err != nil {
			return err
		}
	}
	for _, hc := range next.HTTP {
		if err := build("http", hc.Name, hc, func() (service, error) { return newHTTPService(hc, a) }); err != nil {
			return err
		}
	}
	return nil
}

// drain stops the services a reload replaced or removed, in the background:
// they stop accepting at once (their sockets live on in their successors)
// and their open connections finish within shutdown.grace.
func (a *app) drain(ss []service) {
	grace := a.cfg.Grace // a.cfg is the run loop's; a later reload replaces it
	var wg sync.WaitGroup
	for _, s := range ss {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), grace)
			defer cancel()
			if err := s.shutdown(ctx); err != nil {
				a.log.Warn("reload: grace period over for a replaced service; closed what was still open", "service", s.name(), "kind", s.kind(), "error", err)
			}
		}()
	}
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		wg.Wait()
	}()
}

// reloadFiles re-reads the CIDR and TLS files of services that kept running.
func (a *app) reloadFiles(ss []service) {
	for _, s := range ss {
		if err := s.reload(a); err != nil {
			a.log.Error("reload of files failed; keeping the previous ones", "service", s.name(), "error", err)
		}
	}
}

func keptList(list []service, kept map[service]bool) []service {
	var out []service
	for _, s := range list {
		if kept[s] {
			out = append(out, s)
		}
	}
	return out
}

// currentConfig returns the running config, for goroutines other than
// the run loop (which alone replaces it).
func (a *app) currentConfig() *Config {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.cfg
}

// currentServices returns the running services.
func (a *app) currentServices() []service {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]service(nil), a.services...)
}

// processSettings are the config's process-wide settings, which a reload
// does not change.
type processSettings struct {
	metrics   string
	logLevel  string
	logFormat string
	accessLog bool
	grace     time.Duration
}

func process(c *Config) processSettings {
	p := processSettings{logLevel: c.LogLevel.String(), logFormat: c.LogFormat, accessLog: c.AccessLog, grace: c.Grace}
	if c.Metrics != nil {
		p.metrics = c.Metrics.Listen + c.Metrics.Path
	}
	return p
}

// withServices is cur with next's services and identity.
func withServices(cur, next *Config) *Config {
	c := *cur
	c.TCP, c.UDP, c.HTTP, c.Hash, c.Path = next.TCP, next.UDP, next.HTTP, next.Hash, next.Path
	return &c
}
