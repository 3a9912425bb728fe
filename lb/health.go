package lb

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/sluice-proxy/sluice/internal/localerr"
	"github.com/sluice-proxy/sluice/transport"
)

// Defaults for active health checks.
const (
	DefaultCheckInterval = 2 * time.Second
	DefaultRise          = 2
	DefaultFall          = 2
)

// HealthCheck configures RunHealthChecks.
type HealthCheck struct {
	// Interval is the time from the end of one probe of a backend to the
	// start of the next; 0 means DefaultCheckInterval. Each backend's
	// first probe comes after a random fraction of it, so probes spread.
	Interval time.Duration
	// Timeout bounds one probe; 0 means Interval.
	Timeout time.Duration
	// Rise is how many consecutive successful probes bring a down backend
	// up; 0 means DefaultRise.
	Rise int
	// Fall is how many consecutive failed probes take an up backend down;
	// 0 means DefaultFall.
	Fall int
	// Probe checks one backend address; nil means transport.Probe: a
	// connect to host:port or unix:/path, closed at once. An HTTP check,
	// a TLS handshake or a check of a virtual upstream goes here.
	Probe func(ctx context.Context, addr string) error
}

// RunHealthChecks probes every backend, one goroutine each, until ctx is
// done, then returns after they have all stopped. A backend goes down after
// Fall consecutive failed probes and up after Rise consecutive successful
// ones; a backend taken down passively while checks run comes back on its
// next successful probe once Rise successes have accumulated.
//
// Only one RunHealthChecks runs per Balancer at a time; a concurrent second
// call returns at once. When it returns, backends held down waiting for an
// active check fall back to the passive rules: they are retried after one
// cooldown.
func (b *Balancer) RunHealthChecks(ctx context.Context, hc HealthCheck) {
	if !b.checking.CompareAndSwap(0, 1) {
		return
	}
	if hc.Interval <= 0 {
		hc.Interval = DefaultCheckInterval
	}
	if hc.Timeout <= 0 {
		hc.Timeout = hc.Interval
	}
	if hc.Rise <= 0 {
		hc.Rise = DefaultRise
	}
	if hc.Fall <= 0 {
		hc.Fall = DefaultFall
	}
	if hc.Probe == nil {
		hc.Probe = transport.Probe
	}
	var wg sync.WaitGroup
	for _, be := range b.backends {
		wg.Add(1)
		go b.probeLoop(ctx, &wg, be, hc)
	}
	wg.Wait()
	b.checking.Store(0)
	for _, be := range b.backends {
		be.down.CompareAndSwap(stateHeld, b.cooldownDeadline())
	}
}

// Probed reports whether every backend has had a verdict from an active
// probe (RunHealthChecks' first round is done), so that a readiness check
// can wait for the backends' state to be known rather than assumed.
func (b *Balancer) Probed() bool {
	for _, be := range b.backends {
		if !be.probed.Load() {
			return false
		}
	}
	return true
}

// probeLoop probes one backend every hc.Interval until ctx is done.
func (b *Balancer) probeLoop(ctx context.Context, wg *sync.WaitGroup, be *Backend, hc HealthCheck) {
	defer wg.Done()
	t := time.NewTimer(rand.N(hc.Interval))
	defer t.Stop()
	var ok, bad int
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		pctx, cancel := context.WithTimeout(ctx, hc.Timeout)
		err := hc.Probe(pctx, be.Addr)
		cancel()
		if ctx.Err() != nil {
			return // a probe cut short by shutdown proves nothing
		}
		if err != nil && localerr.Is(err) {
			// Nor does one that could not be made: this process is out
			// of descriptors or memory, the backend may be fine.
			t.Reset(hc.Interval)
			continue
		}
		be.probed.Store(true)
		if err == nil {
			ok, bad = ok+1, 0
			if ok >= hc.Rise && be.down.Load() != stateUp {
				b.setUp(be, fmt.Sprintf("active: %d consecutive successful probes", ok))
			}
		} else {
			ok, bad = 0, bad+1
			if bad >= hc.Fall && be.down.Load() != stateHeld {
				b.setHeld(be, fmt.Sprintf("active: %d consecutive failed probes: %v", bad, err))
			}
		}
		t.Reset(hc.Interval)
	}
}

// setUp brings be up and reports the flip if it was down.
func (b *Balancer) setUp(be *Backend, reason string) {
	be.fails.Store(0)
	if be.down.Swap(stateUp) != stateUp {
		b.notify(be, true, reason)
	}
}

// setHeld takes be down until an active check brings it up, reporting the
// flip if it was up.
func (b *Balancer) setHeld(be *Backend, reason string) {
	if be.down.Swap(stateHeld) == stateUp {
		b.notify(be, false, reason)
	}
}
