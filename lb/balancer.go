package lb

import (
	"fmt"
	"sync/atomic"
	"time"
)

// Balancer picks backends from a fixed set by one Policy. It is safe for
// concurrent use; Pick allocates nothing.
type Balancer struct {
	policy   Policy
	backends []*Backend
	opts     options

	// now is the clock for passive cooldowns; tests replace it.
	now   func() time.Time
	epoch time.Time

	checking atomic.Int32 // 1 while RunHealthChecks runs

	wrr  smoothWRR // RoundRobin, and Hash with an empty key
	p2c  weightedP2C
	lc   leastConn
	ring ketamaRing
}

// New builds a Balancer over backends with the given policy ("" means
// RoundRobin). It fails, wrapping ErrInvalidConfig, on an empty list, an
// empty or duplicate address, a weight outside 0..MaxWeight, or an unknown
// policy.
func New(backends []BackendConfig, policy Policy, opts ...Option) (*Balancer, error) {
	if policy == "" {
		policy = RoundRobin
	}
	switch policy {
	case RoundRobin, Random, LeastConn, Hash:
	default:
		return nil, fmt.Errorf("%w: unknown policy %q", ErrInvalidConfig, policy)
	}
	if len(backends) == 0 {
		return nil, fmt.Errorf("%w: no backends", ErrInvalidConfig)
	}
	b := &Balancer{policy: policy, now: time.Now}
	b.epoch = b.now()
	for _, o := range opts {
		if o != nil {
			o(&b.opts)
		}
	}
	if b.opts.passive.FailThreshold == 0 {
		b.opts.passive.FailThreshold = DefaultFailThreshold
	}
	if b.opts.passive.Cooldown <= 0 {
		b.opts.passive.Cooldown = DefaultCooldown
	}
	seen := make(map[string]struct{}, len(backends))
	b.backends = make([]*Backend, len(backends))
	for i, c := range backends {
		if c.Addr == "" {
			return nil, fmt.Errorf("%w: backend %d: empty address", ErrInvalidConfig, i)
		}
		if _, dup := seen[c.Addr]; dup {
			return nil, fmt.Errorf("%w: duplicate backend address %q", ErrInvalidConfig, c.Addr)
		}
		seen[c.Addr] = struct{}{}
		w := c.Weight
		if w == 0 {
			w = 1
		}
		if w < 0 || w > MaxWeight {
			return nil, fmt.Errorf("%w: backend %q: weight %d outside 0..%d", ErrInvalidConfig, c.Addr, c.Weight, MaxWeight)
		}
		be := &Backend{Addr: c.Addr, Weight: w, idx: i, lb: b}
		if b.opts.startDown {
			be.down.Store(stateHeld)
		}
		b.backends[i] = be
	}
	b.wrr.init(len(b.backends))
	switch policy {
	case Random:
		b.p2c.init(b.backends)
	case Hash:
		b.ring.init(b.backends)
	}
	return b, nil
}

// Policy returns the balancer's selection policy.
func (b *Balancer) Policy() Policy { return b.policy }

// Backends returns the backends in configuration order. The slice is a
// copy; the Backends are shared.
func (b *Balancer) Backends() []*Backend {
	return append([]*Backend(nil), b.backends...)
}

// Pick returns a healthy backend chosen by the policy, never one in exclude
// (the backends already tried for this connection or request), or
// ErrNoBackend. key is used only by the Hash policy; callers usually pass the
// client IP (see AppendClientKey). Pick is safe for concurrent use and
// allocates nothing.
func (b *Balancer) Pick(key []byte, exclude []*Backend) (*Backend, error) {
	if be := b.pick(key, exclude, false); be != nil {
		return be, nil
	}
	if b.opts.allFallback {
		if be := b.pick(key, exclude, true); be != nil {
			return be, nil
		}
	}
	return nil, ErrNoBackend
}

// pick dispatches on the policy with a switch rather than through an
// interface so that key and exclude do not escape to the heap.
func (b *Balancer) pick(key []byte, exclude []*Backend, anyHealth bool) *Backend {
	switch b.policy {
	case Random:
		return b.p2c.pick(b, exclude, anyHealth)
	case LeastConn:
		return b.lc.pick(b, exclude, anyHealth)
	case Hash:
		if len(key) > 0 {
			return b.ring.pick(b, key, exclude, anyHealth)
		}
	}
	return b.wrr.pick(b, exclude, anyHealth)
}

// eligible reports whether be may be picked: not excluded and, unless
// anyHealth, healthy.
func (b *Balancer) eligible(be *Backend, exclude []*Backend, anyHealth bool) bool {
	for _, x := range exclude {
		if x == be {
			return false
		}
	}
	return anyHealth || be.Healthy()
}

// mono returns the monotonic time since the Balancer was built, in ns.
func (b *Balancer) mono() int64 { return int64(b.now().Sub(b.epoch)) }

func (b *Balancer) notify(be *Backend, healthy bool, reason string) {
	if fn := b.opts.onChange; fn != nil {
		fn(be, healthy, reason)
	}
}
