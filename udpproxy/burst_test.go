package udpproxy

import (
	"testing"

	"github.com/sluice-proxy/sluice/connfilter"
)

// TestSessionRateDefaultBurst: a session rate without a burst gets
// connfilter.DefaultBurst, the rule TCP and HTTP accepts use too (2.5/s
// gives 3; it used to give 3 here and 2 there).
func TestSessionRateDefaultBurst(t *testing.T) {
	f, err := buildFilter(FilterConfig{SessionRatePerIP: 2.5}, nil)
	if err != nil {
		t.Fatal(err)
	}
	r, ok := f.(*connfilter.Rate)
	if !ok {
		t.Fatalf("filter %T, want a *connfilter.Rate", f)
	}
	if r.Burst() != connfilter.DefaultBurst(2.5) || r.Burst() != 3 {
		t.Fatalf("burst %d, want connfilter.DefaultBurst(2.5) = 3", r.Burst())
	}
}
