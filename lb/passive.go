package lb

import "fmt"

// ReportFailure records a failed connection or request to be (a backend of
// this Balancer; others and nil are ignored). FailThreshold consecutive
// failures take it down: for the cooldown, or, while RunHealthChecks runs,
// until the active checks bring it back. After a cooldown a single further
// failure takes it down again. Dial reports its own dial failures.
func (b *Balancer) ReportFailure(be *Backend) {
	if be == nil || be.lb != b || b.opts.passive.FailThreshold < 0 {
		return
	}
	n := be.fails.Add(1)
	if n < int64(b.opts.passive.FailThreshold) || be.down.Load() != stateUp {
		return
	}
	until := stateHeld
	if b.checking.Load() == 0 {
		until = b.cooldownDeadline()
	}
	if !be.down.CompareAndSwap(stateUp, until) {
		return // someone else flipped it first
	}
	b.notify(be, false, fmt.Sprintf("passive: %d consecutive failures", n))
	// RunHealthChecks may have ended between the Load above and the CAS;
	// then nobody would ever release the hold.
	if until == stateHeld && b.checking.Load() == 0 {
		be.down.CompareAndSwap(stateHeld, b.cooldownDeadline())
	}
}

// ReportSuccess records a successful connection or request to be, resetting
// its consecutive-failure count. It does not by itself bring a down backend
// back up. Dial reports its own successes.
func (b *Balancer) ReportSuccess(be *Backend) {
	if be == nil || be.lb != b {
		return
	}
	if be.fails.Load() != 0 { // avoid dirtying the cache line on the hot path
		be.fails.Store(0)
	}
}

// cooldownDeadline returns the down-state value for "down until one
// cooldown from now".
func (b *Balancer) cooldownDeadline() int64 {
	d := b.mono() + int64(b.opts.passive.Cooldown)
	if d == stateUp || d == stateHeld {
		d-- // keep clear of the sentinels
	}
	return d
}
