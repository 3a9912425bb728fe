package udpproxy

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluice-proxy/sluice/internal/promvec"
)

// Metrics holds the Prometheus collectors of every UDP service in a process,
// labelled by service name (and upstream address where it applies). One
// Metrics is shared by all services; create it once with NewMetrics. Its
// series are all named sluice_udp_*, so it can share a registry with
// tcpproxy's.
type Metrics struct {
	active    *prometheus.GaugeVec
	created   *prometheus.CounterVec
	closed    *prometheus.CounterVec
	datagrams *prometheus.CounterVec
	bytes     *prometheus.CounterVec
	dropped   *prometheus.CounterVec
	upActive  *prometheus.GaugeVec
	upHealthy *prometheus.GaugeVec
	offload   *prometheus.GaugeVec
}

// Session close reasons, the reason label of sluice_udp_sessions_closed_total.
const (
	CloseExpired         = "expired"          // idle for IdleTimeout
	CloseEvicted         = "evicted"          // least recently active when the table was full
	CloseUpstreamRefused = "upstream_refused" // ICMP port unreachable (ECONNREFUSED)
	CloseUpstreamError   = "upstream_error"   // another error on the upstream socket
	CloseShutdown        = "shutdown"         // the service stopped
)

// Drop reasons, the reason label of sluice_udp_dropped_total, besides the
// connfilter rejection reasons ("deny", "not_allowed", "rate_limit", …).
const (
	DropTruncated      = "truncated"        // larger than MaxDatagramSize
	DropNoUpstream     = "no_upstream"      // no healthy backend for a new session
	DropUpstreamSocket = "upstream_socket"  // the session's socket could not be made (EMFILE, …)
	DropSendError      = "send_error"       // the kernel refused the datagram (EMSGSIZE, EPERM, …)
	DropSendBufferFull = "send_buffer_full" // EAGAIN/ENOBUFS: the socket buffer was full
	DropSessionClosed  = "session_closed"   // its session closed before it could be sent
	dropFilterError    = "error"            // a filter failed (connfilter.Reason)
)

// Directions, the direction label: "upstream" is client to upstream,
// "downstream" upstream to client.
const (
	dirUp   = "upstream"
	dirDown = "downstream"
)

// NewMetrics creates the collectors and registers them with reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		active: promvec.Gauge("sluice_udp_sessions_active",
			"UDP sessions held now, by service.",
			"service"),
		created: promvec.Counter("sluice_udp_sessions_created_total",
			"UDP sessions created (a new client address past the filters), by service.",
			"service"),
		closed: promvec.Counter("sluice_udp_sessions_closed_total",
			"UDP sessions closed, by service and reason (expired, evicted, upstream_refused, upstream_error, shutdown).",
			"service", "reason"),
		datagrams: promvec.Counter("sluice_udp_datagrams_total",
			"Datagrams forwarded, by service, upstream and direction (upstream: client to upstream; downstream: upstream to client).",
			"service", "upstream", "direction"),
		bytes: promvec.Counter("sluice_udp_bytes_total",
			"Payload bytes forwarded (PROXY headers not counted), by service, upstream and direction.",
			"service", "upstream", "direction"),
		dropped: promvec.Counter("sluice_udp_dropped_total",
			"Datagrams dropped, by service, direction and reason (filter verdicts, no_upstream, truncated, send_error, …).",
			"service", "direction", "reason"),
		upActive: promvec.Gauge("sluice_udp_upstream_sessions_active",
			"UDP sessions held now, by service and upstream.",
			"service", "upstream"),
		upHealthy: promvec.Gauge("sluice_udp_upstream_healthy",
			"1 when the upstream is eligible for new sessions, 0 when passive or active health took it out.",
			"service", "upstream"),
		offload: promvec.Gauge("sluice_udp_offload",
			"1 when the service uses the kernel feature (gro: UDP GRO on receive; gso: UDP GSO on send).",
			"service", "feature"),
	}
	if err := promvec.Register(reg, m.active, m.created, m.closed, m.datagrams, m.bytes, m.dropped, m.upActive, m.upHealthy, m.offload); err != nil {
		return nil, err
	}
	return m, nil
}

// serviceMetrics are one service's series, resolved once so the datagram
// path does no label lookups.
type serviceMetrics struct {
	m         *Metrics
	name      string
	active    prometheus.Gauge
	created   prometheus.Counter
	closed    map[string]prometheus.Counter // fixed close reasons
	upstreams []*upstreamMetrics            // by upstream index

	dropMu sync.Mutex
	drops  map[dropKey]prometheus.Counter // resolved on first use
}

type dropKey struct{ dir, reason string }

type upstreamMetrics struct {
	dgUp, dgDown       prometheus.Counter
	bytesUp, bytesDown prometheus.Counter
	active             prometheus.Gauge
	healthy            prometheus.Gauge
}

func (m *Metrics) service(name string, upstreams []string) *serviceMetrics {
	s := &serviceMetrics{
		m:       m,
		name:    name,
		active:  m.active.WithLabelValues(name),
		created: m.created.WithLabelValues(name),
		closed:  make(map[string]prometheus.Counter, 5),
		drops:   make(map[dropKey]prometheus.Counter),
	}
	for _, r := range []string{CloseExpired, CloseEvicted, CloseUpstreamRefused, CloseUpstreamError, CloseShutdown} {
		s.closed[r] = m.closed.WithLabelValues(name, r)
	}
	for _, u := range upstreams {
		um := &upstreamMetrics{
			dgUp:      m.datagrams.WithLabelValues(name, u, dirUp),
			dgDown:    m.datagrams.WithLabelValues(name, u, dirDown),
			bytesUp:   m.bytes.WithLabelValues(name, u, dirUp),
			bytesDown: m.bytes.WithLabelValues(name, u, dirDown),
			active:    m.upActive.WithLabelValues(name, u),
			healthy:   m.upHealthy.WithLabelValues(name, u),
		}
		um.healthy.Set(1)
		s.upstreams = append(s.upstreams, um)
	}
	return s
}

// drop returns the counter of datagrams dropped for reason in direction dir.
// Callers on a worker cache it; the lock is taken only on first use of a
// reason.
func (s *serviceMetrics) drop(dir, reason string) prometheus.Counter {
	k := dropKey{dir, reason}
	s.dropMu.Lock()
	defer s.dropMu.Unlock()
	c, ok := s.drops[k]
	if !ok {
		c = s.m.dropped.WithLabelValues(s.name, dir, reason)
		s.drops[k] = c
	}
	return c
}

func (s *serviceMetrics) closedCounter(reason string) prometheus.Counter {
	if c, ok := s.closed[reason]; ok {
		return c
	}
	return s.m.closed.WithLabelValues(s.name, reason)
}

func (s *serviceMetrics) setOffload(gro, gso bool) {
	b := func(v bool) float64 {
		if v {
			return 1
		}
		return 0
	}
	s.m.offload.WithLabelValues(s.name, "gro").Set(b(gro))
	s.m.offload.WithLabelValues(s.name, "gso").Set(b(gso))
}
