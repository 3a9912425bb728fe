package connfilter

import (
	"context"
	"math"
	"net/netip"
	"testing"
	"time"
)

// fakeClock is a clock the test moves by hand.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }

// newTestRate returns a Rate on a fake clock.
func newTestRate(perSecond float64, burst int) (*Rate, *fakeClock) {
	clk := &fakeClock{t: time.Unix(1000, 0)}
	r := NewRate(perSecond, burst)
	r.now = clk.now
	r.base = clk.t
	return r, clk
}

func ipN(i int) netip.Addr {
	return netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
}

func infoFor(ip netip.Addr) *Info { return &Info{Client: netip.AddrPortFrom(ip, 1234)} }

func TestRateBucket(t *testing.T) {
	ctx := context.Background()
	r, clk := newTestRate(2, 3) // 2/s, burst 3
	a := infoFor(netip.MustParseAddr("192.0.2.1"))
	b := infoFor(netip.MustParseAddr("192.0.2.2"))
	for i := range 3 {
		if rel, err := r.Check(ctx, a); err != nil || rel != nil {
			t.Fatalf("burst conn %d: rel %v err %v", i, rel != nil, err)
		}
	}
	if _, err := r.Check(ctx, a); Reason(err) != "rate_limit" {
		t.Fatalf("4th conn: err = %v, want rate_limit", err)
	}
	if _, err := r.Check(ctx, b); err != nil {
		t.Fatalf("b limited by a's bucket: %v", err)
	}
	clk.advance(499 * time.Millisecond) // 0.998 tokens: not yet one
	if _, err := r.Check(ctx, a); Reason(err) != "rate_limit" {
		t.Fatalf("after 499ms: err = %v, want rate_limit", err)
	}
	clk.advance(2 * time.Millisecond) // the refused check spent nothing: 1.002 tokens
	if _, err := r.Check(ctx, a); err != nil {
		t.Fatalf("after 501ms: %v", err)
	}
	if _, err := r.Check(ctx, a); Reason(err) != "rate_limit" {
		t.Fatalf("token used twice: err = %v", err)
	}
	clk.advance(time.Hour) // refills to burst, not beyond
	for range 3 {
		if _, err := r.Check(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := r.Check(ctx, a); Reason(err) != "rate_limit" {
		t.Fatalf("bucket grew past burst: err = %v", err)
	}
	// Clock going backwards must not drain the bucket below what it had.
	clk.advance(-time.Minute)
	if _, err := r.Check(ctx, a); Reason(err) != "rate_limit" {
		t.Fatalf("after clock step back: err = %v", err)
	}
}

func TestRateStagesAndLimits(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name      string
		perSecond float64
		burst     int
		in        Info
		judged    bool
	}{
		{"direct", 1, 1, Info{Client: mustAP("192.0.2.1:1")}, true},
		{"awaiting proxy", 1, 1, Info{Client: mustAP("192.0.2.1:1"), AwaitingProxy: true}, false},
		{"proxy stage", 1, 1, Info{Client: mustAP("192.0.2.1:1"), Stage: StageProxy, AwaitingProxy: true}, true},
		{"no IP", 1, 1, Info{}, false},
		{"zero rate is no limit", 0, 1, Info{Client: mustAP("192.0.2.1:1")}, false},
		{"NaN rate is no limit", math.NaN(), 1, Info{Client: mustAP("192.0.2.1:1")}, false},
		{"Inf rate is no limit", math.Inf(1), 1, Info{Client: mustAP("192.0.2.1:1")}, false},
		{"burst 0 is 1", 1, 0, Info{Client: mustAP("192.0.2.1:1")}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, _ := newTestRate(tc.perSecond, tc.burst)
			if _, err := r.Check(ctx, &tc.in); err != nil {
				t.Fatalf("first check: %v", err)
			}
			_, err := r.Check(ctx, &tc.in)
			if judged := err != nil; judged != tc.judged {
				t.Fatalf("second check: err = %v; judged %v, want %v", err, judged, tc.judged)
			}
		})
	}
}

// TestRatePrunesRefilled checks that entries whose buckets have refilled are
// swept away as new clients arrive.
func TestRatePrunesRefilled(t *testing.T) {
	ctx := context.Background()
	r, clk := newTestRate(10, 5) // refills in 0.5 s
	const n = 5000
	for i := range n {
		if _, err := r.Check(ctx, infoFor(ipN(i))); err != nil {
			t.Fatal(err)
		}
	}
	if got := r.Len(); got != n {
		t.Fatalf("Len() = %d, want %d (nothing has refilled yet)", got, n)
	}
	clk.advance(time.Second)
	// New clients arrive; their inserts trigger sweeps of the old entries.
	for i := range n {
		if _, err := r.Check(ctx, infoFor(ipN(n+i))); err != nil {
			t.Fatal(err)
		}
	}
	if got := r.Len(); got >= 2*n-n/2 {
		t.Fatalf("Len() = %d: refilled entries were not pruned", got)
	}
	// A pruned client starts again with a full bucket.
	for range 5 {
		if _, err := r.Check(ctx, infoFor(ipN(0))); err != nil {
			t.Fatal(err)
		}
	}
}

// TestRateHardCap floods the table with new addresses without letting time
// pass, so nothing can be pruned: the cap must hold.
func TestRateHardCap(t *testing.T) {
	ctx := context.Background()
	r, _ := newTestRate(1, 1)
	r.WithMaxEntries(4 * numShards)
	for i := range 20000 {
		if _, err := r.Check(ctx, infoFor(ipN(i))); err != nil {
			t.Fatalf("new client %d refused: %v", i, err)
		}
	}
	if got := r.Len(); got > 4*numShards {
		t.Fatalf("Len() = %d, above the cap %d", got, 4*numShards)
	}
}

// TestRateEvictsLeastRecentlySeen fills one shard to its cap and checks
// which entry a newcomer evicts. With a cap below the sample size the sample
// is the whole shard, so the choice is exact.
func TestRateEvictsLeastRecentlySeen(t *testing.T) {
	ctx := context.Background()
	r, clk := newTestRate(0.001, 1) // refills in 1000 s: nothing is pruned here
	r.WithMaxEntries(3 * numShards) // 3 per shard
	var same []netip.Addr           // addresses sharing one shard
	want := r.hash.shard(ipN(0))
	for i := 0; len(same) < 4; i++ {
		if r.hash.shard(ipN(i)) == want {
			same = append(same, ipN(i))
		}
	}
	for _, ip := range same[:3] {
		if _, err := r.Check(ctx, infoFor(ip)); err != nil {
			t.Fatal(err)
		}
		clk.advance(time.Millisecond)
	}
	// Touch the first again (refused, but seen): the second is now oldest.
	if _, err := r.Check(ctx, infoFor(same[0])); Reason(err) != "rate_limit" {
		t.Fatalf("err = %v, want rate_limit", err)
	}
	clk.advance(time.Millisecond)
	if _, err := r.Check(ctx, infoFor(same[3])); err != nil {
		t.Fatal(err)
	}
	s := &r.shards[want]
	if _, ok := s.m[same[1]]; ok || len(s.m) != 3 {
		t.Fatalf("shard holds %v; want %v evicted and 3 entries", s.m, same[1])
	}
	// The evicted client starts over with a full bucket.
	if _, err := r.Check(ctx, infoFor(same[1])); err != nil {
		t.Fatalf("evicted client: %v", err)
	}
}

// TestDefaultBurst: the burst when none is given is a second's worth,
// rounded up, at least 1; NewRate uses it for burst 0.
func TestDefaultBurst(t *testing.T) {
	for _, tc := range []struct {
		rate float64
		want int
	}{{2.5, 3}, {1, 1}, {0.1, 1}, {100, 100}, {0, 1}, {-3, 1}} {
		if got := DefaultBurst(tc.rate); got != tc.want {
			t.Errorf("DefaultBurst(%v) = %d, want %d", tc.rate, got, tc.want)
		}
		if tc.rate > 0 {
			if got := NewRate(tc.rate, 0).Burst(); got != tc.want {
				t.Errorf("NewRate(%v, 0).Burst() = %d, want %d", tc.rate, got, tc.want)
			}
		}
	}
	if got := NewRate(2.5, 7).Burst(); got != 7 {
		t.Errorf("NewRate(2.5, 7).Burst() = %d, want 7", got)
	}
}
