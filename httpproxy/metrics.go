package httpproxy

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluice-proxy/sluice/internal/promvec"
)

// Metrics holds the Prometheus collectors of every HTTP service in a
// process; services label their series with their name. Create it once with
// NewMetrics and share it.
type Metrics struct {
	requests   *prometheus.CounterVec
	duration   *prometheus.HistogramVec
	errors     *prometheus.CounterVec
	conns      *prometheus.CounterVec
	active     *prometheus.GaugeVec
	rejected   *prometheus.CounterVec
	upConns    *prometheus.CounterVec
	connectErr *prometheus.CounterVec
	firstByte  *prometheus.HistogramVec
	bodyBytes  *prometheus.CounterVec
	upHealthy  *prometheus.GaugeVec
	mirrors    *prometheus.CounterVec
}

// NewMetrics creates the collectors and registers them with reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		requests: promvec.Counter("sluice_http_requests_total",
			"Requests answered, by service, route and status class (1xx..5xx; \"none\" when no response was sent).",
			"service", "route", "code"),
		duration: promvec.Histogram("sluice_http_request_duration_seconds",
			"Time from a request head read to its response sent, by service and route.",
			promvec.LatencyBuckets(), "service", "route"),
		errors: promvec.Counter("sluice_http_errors_total",
			"Requests that failed, by service and kind (downstream_protocol, header_timeout, request_too_large, downstream_closed, downstream_timeout, no_peer, connect, connect_timeout, upstream_timeout, upstream_protocol, upstream_closed, local_resource, internal).",
			"service", "kind"),
		conns: promvec.Counter("sluice_http_connections_total",
			"Client connections served, by service.",
			"service"),
		active: promvec.Gauge("sluice_http_connections_active",
			"Client connections open now, by service.",
			"service"),
		rejected: promvec.Counter("sluice_http_rejected_total",
			"Client connections refused by the connection filters, by service and reason.",
			"service", "reason"),
		upConns: promvec.Counter("sluice_http_upstream_requests_total",
			"Requests sent upstream, by service and whether the connection was reused from the pool (reuse ratio = reused=\"true\" / all).",
			"service", "reused"),
		connectErr: promvec.Counter("sluice_http_upstream_connect_errors_total",
			"Failed upstream connects, by service, upstream and kind (connect, connect_timeout).",
			"service", "upstream", "kind"),
		firstByte: promvec.Histogram("sluice_http_upstream_response_seconds",
			"Time from upstream connection ready to response head read, by service.",
			promvec.LatencyBuckets(), "service"),
		bodyBytes: promvec.Counter("sluice_http_body_bytes_total",
			"Body payload bytes moved, by service and direction (request: client to upstream; response: upstream to client).",
			"service", "direction"),
		mirrors: promvec.Counter("sluice_http_mirror_total",
			"Background copies of requests to a shadow upstream (Session.Mirror), by service and result: ok (answered; the answer dropped), failed (no answer, or a connect error), dropped (too many in flight), skipped (a body that streams is not copied), shutdown.",
			"service", "result"),
		upHealthy: promvec.Gauge("sluice_http_upstream_healthy",
			"1 when an upstream takes new requests, 0 when health checks or passive marking took it out, by service, route (empty for the service's own upstreams) and upstream.",
			"service", "route", "upstream"),
	}
	if err := promvec.Register(reg, m.requests, m.duration, m.errors, m.conns, m.active, m.rejected, m.upConns, m.connectErr, m.firstByte, m.bodyBytes, m.upHealthy, m.mirrors); err != nil {
		return nil, err
	}
	return m, nil
}

// UpstreamHealth sets sluice_http_upstream_healthy{service, route,
// upstream}: call it with true for each backend when its balancer is made,
// and from the balancer's lb.OnHealthChange observer on every flip.
func (m *Metrics) UpstreamHealth(service, route, upstream string, healthy bool) {
	v := 0.0
	if healthy {
		v = 1
	}
	m.upHealthy.WithLabelValues(service, route, upstream).Set(v)
}

// serviceMetrics holds one service's series, curried once.
type serviceMetrics struct {
	m                   *Metrics
	name                string
	conns               prometheus.Counter
	active              prometheus.Gauge
	reused, fresh       prometheus.Counter
	firstByteH          prometheus.Observer
	reqBytes, respBytes prometheus.Counter

	mu     sync.RWMutex
	routes map[string]*routeMetrics
}

// routeMetrics holds a route's series; codes is indexed by status/100
// (0: no response).
type routeMetrics struct {
	codes    [6]prometheus.Counter
	duration prometheus.Observer
}

var codeLabels = [6]string{"none", "1xx", "2xx", "3xx", "4xx", "5xx"}

func (m *Metrics) service(name string) *serviceMetrics {
	return &serviceMetrics{
		m:          m,
		name:       name,
		conns:      m.conns.WithLabelValues(name),
		active:     m.active.WithLabelValues(name),
		reused:     m.upConns.WithLabelValues(name, "true"),
		fresh:      m.upConns.WithLabelValues(name, "false"),
		firstByteH: m.firstByte.WithLabelValues(name),
		reqBytes:   m.bodyBytes.WithLabelValues(name, "request"),
		respBytes:  m.bodyBytes.WithLabelValues(name, "response"),
		routes:     make(map[string]*routeMetrics),
	}
}

func (sm *serviceMetrics) route(name string) *routeMetrics {
	sm.mu.RLock()
	r := sm.routes[name]
	sm.mu.RUnlock()
	if r != nil {
		return r
	}
	sm.mu.Lock()
	defer sm.mu.Unlock()
	r = sm.routes[name]
	if r == nil {
		r = &routeMetrics{duration: sm.m.duration.WithLabelValues(sm.name, name)}
		for i, l := range codeLabels {
			r.codes[i] = sm.m.requests.WithLabelValues(sm.name, name, l)
		}
		sm.routes[name] = r
	}
	return r
}

func (sm *serviceMetrics) connOpened() {
	sm.conns.Inc()
	sm.active.Inc()
}

func (sm *serviceMetrics) connClosed() { sm.active.Dec() }

func (sm *serviceMetrics) rejected(reason string) {
	sm.m.rejected.WithLabelValues(sm.name, reason).Inc()
}

func (sm *serviceMetrics) upstreamConn(reused bool) {
	if reused {
		sm.reused.Inc()
	} else {
		sm.fresh.Inc()
	}
}

func (sm *serviceMetrics) connectError(upstream, kind string) {
	sm.m.connectErr.WithLabelValues(sm.name, upstream, kind).Inc()
}

// localResource counts an accept that failed for lack of the proxy's own
// descriptors or memory (errors{kind="local_resource"}, as a dial that
// fails so).
func (sm *serviceMetrics) localResource() {
	sm.m.errors.WithLabelValues(sm.name, "local_resource").Inc()
}

// mirrored counts a mirror copy's outcome.
func (sm *serviceMetrics) mirrored(result string) {
	sm.m.mirrors.WithLabelValues(sm.name, result).Inc()
}

func (sm *serviceMetrics) firstByte(d time.Duration) { sm.firstByteH.Observe(d.Seconds()) }

func (sm *serviceMetrics) request(s *Session, err error) {
	r := sm.route(s.Route)
	class := s.Status / 100
	if class < 0 || class > 5 {
		class = 0
	}
	r.codes[class].Inc()
	r.duration.Observe(s.End.Sub(s.Start).Seconds())
	if s.RequestBodyBytes > 0 {
		sm.reqBytes.Add(float64(s.RequestBodyBytes))
	}
	if s.ResponseBodyBytes > 0 {
		sm.respBytes.Add(float64(s.ResponseBodyBytes))
	}
	if err != nil {
		sm.m.errors.WithLabelValues(sm.name, kindLabel(err)).Inc()
	}
}
