package promvec

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func TestRegister(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := Counter("a_total", "a", "x")
	g := Gauge("b", "b", "x", "y")
	h := Histogram("c_seconds", "c", LatencyBuckets(), "x")
	if err := Register(reg, c, g, h); err != nil {
		t.Fatal(err)
	}
	c.WithLabelValues("1").Inc()
	g.WithLabelValues("1", "2").Set(3)
	h.WithLabelValues("1").Observe(0.002)
	mfs, err := reg.Gather()
	if err != nil || len(mfs) != 3 {
		t.Fatalf("gathered %d families, %v", len(mfs), err)
	}
	if err := Register(reg, Counter("a_total", "a", "x")); err == nil {
		t.Error("registering a name twice succeeded")
	}
}
