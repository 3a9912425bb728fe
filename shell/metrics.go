package shell

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluice-proxy/sluice/internal/promvec"
	"github.com/sluice-proxy/sluice/transport"
	"github.com/sluice-proxy/sluice/vstream"
)

// Metrics holds the TLS series of every service of a process that
// terminates TLS in its shell. Create it once with NewMetrics and share it.
type Metrics struct {
	handshakes *prometheus.CounterVec
	latency    *prometheus.HistogramVec
	resumed    *prometheus.CounterVec
	expiry     *prometheus.GaugeVec
	reloads    *prometheus.CounterVec
}

// NewMetrics creates the collectors and registers them with reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		handshakes: promvec.Counter("sluice_tls_handshakes_total",
			"TLS handshakes by service, result (ok, or the reason the connection was closed: tls_not_tls, tls_timeout, tls_unknown_sni, tls_client_cert, tls_hook, a filter's reason, ...) and version (empty when no handshake completed).",
			"service", "result", "version"),
		latency: promvec.Histogram("sluice_tls_handshake_seconds",
			"Time from the ClientHello's first byte to the end of a successful handshake, by service.",
			promvec.LatencyBuckets(), "service"),
		resumed: promvec.Counter("sluice_tls_resumptions_total",
			"Successful handshakes that resumed a session, by service.",
			"service"),
		expiry: promvec.Gauge("sluice_tls_certificate_expiry_seconds",
			"When a served certificate expires (Unix time), by service and certificate (its first name).",
			"service", "certificate"),
		reloads: promvec.Counter("sluice_tls_reloads_total",
			"Re-reads of certificate, CA and ticket key files, by service and result (ok, error: the old files stay in use).",
			"service", "result"),
	}
	if err := promvec.Register(reg, m.handshakes, m.latency, m.resumed, m.expiry, m.reloads); err != nil {
		return nil, err
	}
	return m, nil
}

// handshake counts one successful handshake.
func (m *Metrics) handshake(service, result string, info *vstream.TLSInfo) {
	m.handshakes.WithLabelValues(service, result, info.Version).Inc()
	m.latency.WithLabelValues(service).Observe(info.HandshakeDuration.Seconds())
	if info.Resumed {
		m.resumed.WithLabelValues(service).Inc()
	}
}

// failed counts a connection closed at the TLS stage.
func (m *Metrics) failed(service, reason string) {
	m.handshakes.WithLabelValues(service, reason, "").Inc()
}

// Certificates records when srv's certificates expire, and counts a
// reload's result (err nil: ok); call it after building and after each
// Reload.
func (m *Metrics) Certificates(service string, srv *transport.TLSServer, err error) {
	if err != nil {
		m.reloads.WithLabelValues(service, "error").Inc()
		return
	}
	m.reloads.WithLabelValues(service, "ok").Inc()
	for name, t := range srv.Expiries() {
		m.expiry.WithLabelValues(service, name).Set(float64(t.Unix()))
	}
}
