package tcpproxy

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics holds the Prometheus collectors of every TCP service in a process.
// Services label their series with their listener (service) name and, for
// upstream series, the upstream address. One Metrics is shared by all
// services; create it once with NewMetrics.
type Metrics struct {
	conns        *prometheus.CounterVec
	active       *prometheus.GaugeVec
	rejected     *prometheus.CounterVec
	errors       *prometheus.CounterVec
	upConns      *prometheus.CounterVec
	upActive     *prometheus.GaugeVec
	upErrors     *prometheus.CounterVec
	upLatency    *prometheus.HistogramVec
	bytes        *prometheus.CounterVec
	upHealthy    *prometheus.GaugeVec
	healthChange *prometheus.CounterVec
}

// NewMetrics creates the collectors and registers them with reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		conns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_tcp_connections_total",
			Help: "Client connections accepted past the filters, by service.",
		}, []string{"service"}),
		active: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "sluice_tcp_connections_active",
			Help: "Client connections open now, by service.",
		}, []string{"service"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_tcp_rejected_total",
			Help: "Client connections closed before proxying, by service and reason (filter verdicts and PROXY header faults).",
		}, []string{"service", "reason"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_tcp_errors_total",
			Help: "Proxied connections that ended in an error, by service and reason.",
		}, []string{"service", "reason"}),
		upConns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_tcp_upstream_connections_total",
			Help: "Connections established to an upstream, by service and upstream.",
		}, []string{"service", "upstream"}),
		upActive: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "sluice_tcp_upstream_connections_active",
			Help: "Connections to an upstream open now, by service and upstream.",
		}, []string{"service", "upstream"}),
		upErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_tcp_upstream_connect_errors_total",
			Help: "Failed connection attempts to an upstream, by service and upstream.",
		}, []string{"service", "upstream"}),
		upLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "sluice_tcp_upstream_connect_seconds",
			Help:    "Time to establish a connection to an upstream, successful or not.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"service", "upstream"}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_tcp_bytes_total",
			Help: "Bytes relayed, by service, upstream and direction (upstream: client to upstream; downstream: upstream to client).",
		}, []string{"service", "upstream", "direction"}),
		upHealthy: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "sluice_upstream_healthy",
			Help: "1 when the upstream is eligible for new connections, 0 when health checks or passive marking took it out.",
		}, []string{"service", "upstream"}),
		healthChange: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_upstream_health_changes_total",
			Help: "Health state flips of an upstream, by service, upstream and new state.",
		}, []string{"service", "upstream", "state"}),
	}
	for _, c := range []prometheus.Collector{m.conns, m.active, m.rejected, m.errors, m.upConns, m.upActive,
		m.upErrors, m.upLatency, m.bytes, m.upHealthy, m.healthChange} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// serviceMetrics are one service's series, resolved once so the per
// connection path does no label lookups.
type serviceMetrics struct {
	m         *Metrics
	name      string
	conns     prometheus.Counter
	active    prometheus.Gauge
	upstreams map[string]*upstreamMetrics
}

type upstreamMetrics struct {
	conns    prometheus.Counter
	active   prometheus.Gauge
	errors   prometheus.Counter
	latency  prometheus.Observer
	bytesUp  prometheus.Counter
	bytesDn  prometheus.Counter
	healthy  prometheus.Gauge
	wentUp   prometheus.Counter
	wentDown prometheus.Counter
}

func (m *Metrics) service(name string, upstreams []string) *serviceMetrics {
	s := &serviceMetrics{
		m:         m,
		name:      name,
		conns:     m.conns.WithLabelValues(name),
		active:    m.active.WithLabelValues(name),
		upstreams: make(map[string]*upstreamMetrics, len(upstreams)),
	}
	for _, u := range upstreams {
		um := &upstreamMetrics{
			conns:    m.upConns.WithLabelValues(name, u),
			active:   m.upActive.WithLabelValues(name, u),
			errors:   m.upErrors.WithLabelValues(name, u),
			latency:  m.upLatency.WithLabelValues(name, u),
			bytesUp:  m.bytes.WithLabelValues(name, u, "upstream"),
			bytesDn:  m.bytes.WithLabelValues(name, u, "downstream"),
			healthy:  m.upHealthy.WithLabelValues(name, u),
			wentUp:   m.healthChange.WithLabelValues(name, u, "up"),
			wentDown: m.healthChange.WithLabelValues(name, u, "down"),
		}
		um.healthy.Set(1)
		s.upstreams[u] = um
	}
	return s
}

func (s *serviceMetrics) rejected(reason string) { s.m.rejected.WithLabelValues(s.name, reason).Inc() }

func (s *serviceMetrics) failed(reason string) { s.m.errors.WithLabelValues(s.name, reason).Inc() }

func (s *serviceMetrics) health(upstream string, healthy bool) {
	um := s.upstreams[upstream]
	if um == nil {
		return
	}
	if healthy {
		um.healthy.Set(1)
		um.wentUp.Inc()
	} else {
		um.healthy.Set(0)
		um.wentDown.Inc()
	}
}
