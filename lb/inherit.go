package lb

// InheritHealth takes over the health state of old's backends that have
// the same addresses as b's: up, held down until active checks bring it
// back, or down until its passive cooldown ends (the same moment in time,
// whatever the two balancers' clocks); their run of reported failures; and
// whether an active probe has judged them. A config reload that rebuilds a
// balancer calls it, so that an upstream down before the reload is not
// picked again, and one judged healthy is not judged again, for nothing.
// Each backend that comes in down is reported to the OnHealthChange
// observer.
func (b *Balancer) InheritHealth(old *Balancer) {
	byAddr := make(map[string]*Backend, len(old.backends))
	for _, be := range old.backends {
		byAddr[be.Addr] = be
	}
	shift := int64(b.epoch.Sub(old.epoch)) // old's monotonic time minus b's
	for _, be := range b.backends {
		o := byAddr[be.Addr]
		if o == nil {
			continue
		}
		d := o.down.Load()
		if d != stateUp && d != stateHeld {
			// A cooldown deadline on old's clock, moved to b's; one that
			// would land on a state value has as good as ended.
			if d -= shift; d == stateUp || d == stateHeld || d < 0 {
				d = 1
			}
		}
		be.down.Store(d)
		be.fails.Store(o.fails.Load())
		be.probed.Store(o.probed.Load())
		if d != stateUp {
			// The observer saw b's backends start up: it hears this one
			// is down (gauges, logs).
			b.notify(be, false, "inherited: down before the balancer was rebuilt")
		}
	}
}
