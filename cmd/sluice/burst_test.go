package main

import (
	"fmt"
	"testing"

	"github.com/sluice-proxy/sluice/connfilter"
)

// TestAcceptRateDefaultBurst: tcp and http services given
// accept_rate_per_ip without a burst get connfilter.DefaultBurst, the rule
// udp sessions use too: 2.5/s gives a burst of 3 everywhere (tcp used to
// get 2, udp 3).
func TestAcceptRateDefaultBurst(t *testing.T) {
	yaml := `log: {level: error}
tcp:
  - name: t
    listen: ["127.0.0.1:0"]
    upstreams: [{addr: "127.0.0.1:9"}]
    filter: {accept_rate_per_ip: 2.5}
http:
  - name: h
    listen: ["127.0.0.1:0"]
    upstreams: [{addr: "127.0.0.1:9"}]
    filter: {accept_rate_per_ip: 2.5}
`
	cfg, err := parseConfig("b.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	for _, fc := range []*FilterConfig{&cfg.TCP[0].FilterConfig, &cfg.HTTP[0].FilterConfig} {
		var cf connFilters
		f, err := cf.build(fc)
		if err != nil {
			t.Fatal(err)
		}
		r, ok := f.(*connfilter.Rate)
		if !ok {
			t.Fatalf("filter %T, want a *connfilter.Rate", f)
		}
		if got := r.Burst(); got != connfilter.DefaultBurst(2.5) || got != 3 {
			t.Errorf("%s: burst %d, want 3 (connfilter.DefaultBurst)", fmt.Sprintf("%+v", *fc), got)
		}
	}
}
