package lb

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

// fakeClock is a manually advanced clock for passive cooldowns. It starts at
// the real now so that it shares the monotonic base of Balancer.epoch.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{t: time.Now()} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// healthEvent is one OnHealthChange call.
type healthEvent struct {
	addr    string
	healthy bool
	reason  string
}

// eventRecorder returns an observer option feeding a buffered channel. An
// overflowing event fails the test rather than blocking the caller.
func eventRecorder(t *testing.T) (Option, chan healthEvent) {
	t.Helper()
	ch := make(chan healthEvent, 64)
	return OnHealthChange(func(be *Backend, healthy bool, reason string) {
		select {
		case ch <- healthEvent{be.Addr, healthy, reason}:
		default:
			t.Errorf("health event dropped: %s healthy=%v %s", be.Addr, healthy, reason)
		}
	}), ch
}

// noEvent fails if an event is already waiting.
func noEvent(t *testing.T, ch chan healthEvent) {
	t.Helper()
	select {
	case ev := <-ch:
		t.Fatalf("unexpected health event %+v", ev)
	default:
	}
}

func mustNew(t testing.TB, cfg []BackendConfig, p Policy, opts ...Option) *Balancer {
	t.Helper()
	b, err := New(cfg, p, opts...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return b
}

// backends builds n configs named a, b, c, … with the given weights (1 if
// weights is shorter).
func backends(n int, weights ...int) []BackendConfig {
	cfg := make([]BackendConfig, n)
	for i := range cfg {
		cfg[i].Addr = fmt.Sprintf("%c", 'a'+i)
		if n > 26 {
			cfg[i].Addr = fmt.Sprintf("10.0.%d.%d:80", i/256, i%256)
		}
		if i < len(weights) {
			cfg[i].Weight = weights[i]
		}
	}
	return cfg
}

var allPolicies = []Policy{RoundRobin, Random, LeastConn, Hash}

// pickCounts picks n times with key(i) and counts picks per address.
func pickCounts(t testing.TB, b *Balancer, n int, key func(i int) []byte) map[string]int {
	t.Helper()
	counts := map[string]int{}
	for i := range n {
		var k []byte
		if key != nil {
			k = key(i)
		}
		be, err := b.Pick(k, nil)
		if err != nil {
			t.Fatalf("Pick: %v", err)
		}
		counts[be.Addr]++
	}
	return counts
}

func intKey(i int) []byte { return fmt.Appendf(nil, "client-%d", i) }
