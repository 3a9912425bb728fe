package lb

import (
	"math"
	"sync/atomic"
)

// MaxWeight is the largest weight a backend may have. It bounds the ketama
// ring (160 points per unit of weight) and keeps Active()*Weight products far
// from overflow.
const MaxWeight = 1000

// BackendConfig describes one backend for [New].
type BackendConfig struct {
	// Addr is what the dial function receives: usually host:port, but any
	// non-empty string a custom DialFunc understands will do.
	Addr string
	// Weight is the backend's relative share, 1..MaxWeight; 0 means 1.
	Weight int
}

// down-state encoding of Backend.down.
const (
	stateUp   int64 = 0             // healthy
	stateHeld int64 = math.MaxInt64 // down until active checks bring it back
	// any other value: down until that monotonic time (ns since Balancer.epoch)
)

// Backend is one upstream of a [Balancer], created by [New]. Addr and Weight
// are read-only; the health and in-flight state are atomic, so a Backend is
// safe for concurrent use.
type Backend struct {
	// Addr is the address from the BackendConfig.
	Addr string
	// Weight is the effective weight (never 0).
	Weight int

	idx    int
	lb     *Balancer
	active atomic.Int64 // in-flight connections/requests
	down   atomic.Int64 // stateUp, stateHeld, or a cooldown deadline
	fails  atomic.Int64 // consecutive reported failures (passive health)
	probed atomic.Bool  // an active probe has given a verdict
}

// String returns the backend's address.
func (be *Backend) String() string { return be.Addr }

// Healthy reports whether the backend may be picked. A backend whose passive
// cooldown has run out becomes healthy on this call, which then reports the
// flip to the OnHealthChange observer.
func (be *Backend) Healthy() bool {
	d := be.down.Load()
	switch d {
	case stateUp:
		return true
	case stateHeld:
		return false
	}
	if be.lb.mono() < d {
		return false
	}
	if be.down.CompareAndSwap(d, stateUp) {
		be.lb.notify(be, true, "passive: cooldown expired")
	}
	return true
}

// Active returns the number of connections or requests in flight, as counted
// by Acquire and Release.
func (be *Backend) Active() int64 { return be.active.Load() }

// Acquire counts one more connection or request in flight to this backend.
// Every Acquire must be matched by one Release.
func (be *Backend) Acquire() { be.active.Add(1) }

// Release counts one connection or request fewer. An unmatched Release is
// clamped at zero rather than driving the count negative.
func (be *Backend) Release() {
	if n := be.active.Add(-1); n < 0 {
		be.active.CompareAndSwap(n, 0)
	}
}
