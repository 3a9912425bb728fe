package tcpproxy

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluice-proxy/sluice/internal/promvec"
	"github.com/sluice-proxy/sluice/protocols/vmux"
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
	vmuxClosed   *prometheus.CounterVec
	vmuxBuffered prometheus.GaugeFunc
}

// NewMetrics creates the collectors and registers them with reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		conns: promvec.Counter("sluice_tcp_connections_total",
			"Client connections accepted past the filters, by service.",
			"service"),
		active: promvec.Gauge("sluice_tcp_connections_active",
			"Client connections open now, by service.",
			"service"),
		rejected: promvec.Counter("sluice_tcp_rejected_total",
			"Client connections closed before proxying, by service and reason (filter verdicts and PROXY header faults).",
			"service", "reason"),
		errors: promvec.Counter("sluice_tcp_errors_total",
			"Proxied connections that ended in an error, by service and reason.",
			"service", "reason"),
		upConns: promvec.Counter("sluice_tcp_upstream_connections_total",
			"Connections established to an upstream, by service and upstream.",
			"service", "upstream"),
		upActive: promvec.Gauge("sluice_tcp_upstream_connections_active",
			"Connections to an upstream open now, by service and upstream.",
			"service", "upstream"),
		upErrors: promvec.Counter("sluice_tcp_upstream_connect_errors_total",
			"Failed connection attempts to an upstream, by service and upstream.",
			"service", "upstream"),
		upLatency: promvec.Histogram("sluice_tcp_upstream_connect_seconds",
			"Time to establish a connection to an upstream, successful or not.",
			promvec.LatencyBuckets(), "service", "upstream"),
		bytes: promvec.Counter("sluice_tcp_bytes_total",
			"Bytes relayed, by service, upstream and direction (upstream: client to upstream; downstream: upstream to client).",
			"service", "upstream", "direction"),
		upHealthy: promvec.Gauge("sluice_upstream_healthy",
			"1 when the upstream is eligible for new connections, 0 when health checks or passive marking took it out.",
			"service", "upstream"),
		healthChange: promvec.Counter("sluice_upstream_health_changes_total",
			"Health state flips of an upstream, by service, upstream and new state.",
			"service", "upstream", "state"),
		vmuxClosed: promvec.Counter("sluice_vmux_sessions_closed_total",
			"vmux sessions ended on a vmux listener, by service and reason (vmux.Reason: malformed frames, flow-control violations, timeouts, clean ends).",
			"service", "reason"),
		vmuxBuffered: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "sluice_vmux_buffered_bytes",
			Help: "Bytes vmux sessions hold in stream receive buffers, across the process (at most max_streams × stream_window per connection).",
		}, func() float64 { return float64(vmux.BufferedBytes()) }),
	}
	if err := promvec.Register(reg, m.conns, m.active, m.rejected, m.errors, m.upConns, m.upActive, m.upErrors, m.upLatency, m.bytes, m.upHealthy, m.healthChange, m.vmuxClosed, m.vmuxBuffered); err != nil {
		return nil, err
	}
	return m, nil
}

// VmuxSessionEnded counts a vmux session of service that ended with err,
// by vmux.Reason(err); wire it to vmux.Config.OnClose on a vmux listener
// whose streams this package forwards.
func (m *Metrics) VmuxSessionEnded(service string, err error) {
	m.vmuxClosed.WithLabelValues(service, vmux.Reason(err)).Inc()
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
