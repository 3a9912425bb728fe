// Package promvec builds and registers the labelled Prometheus collectors
// of sluice's services in one line each, so that every service's metrics
// file says what it measures rather than repeating the client's option
// structs.
package promvec

import "github.com/prometheus/client_golang/prometheus"

// Counter returns a counter vector named name with the given labels.
func Counter(name, help string, labels ...string) *prometheus.CounterVec {
	return prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
}

// Gauge returns a gauge vector named name with the given labels.
func Gauge(name, help string, labels ...string) *prometheus.GaugeVec {
	return prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, labels)
}

// Histogram returns a histogram vector named name with the given buckets
// and labels.
func Histogram(name, help string, buckets []float64, labels ...string) *prometheus.HistogramVec {
	return prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: name, Help: help, Buckets: buckets}, labels)
}

// LatencyBuckets returns histogram buckets for latencies from 100µs to
// 10s, in seconds.
func LatencyBuckets() []float64 {
	return []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}
}

// Register registers every collector with reg, stopping at the first
// error.
func Register(reg prometheus.Registerer, cs ...prometheus.Collector) error {
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}
