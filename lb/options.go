package lb

import "time"

// Defaults for passive health.
const (
	DefaultFailThreshold = 3
	DefaultCooldown      = 10 * time.Second
)

// Option configures a Balancer in [New].
type Option func(*options)

type options struct {
	onChange    func(be *Backend, healthy bool, reason string)
	passive     PassiveHealth
	allFallback bool
	startDown   bool
}

// PassiveHealth configures marking backends down from reported failures.
type PassiveHealth struct {
	// FailThreshold is how many consecutive failures take a backend down;
	// 0 means DefaultFailThreshold, negative disables passive marking.
	FailThreshold int
	// Cooldown is how long a passively failed backend stays down when no
	// active checks run; 0 means DefaultCooldown.
	Cooldown time.Duration
}

// OnHealthChange sets an observer called on every health flip, active or
// passive, with a human-readable reason (for metrics and logs). It is called
// synchronously from whichever goroutine caused the flip — a health-check
// goroutine, a ReportFailure caller, or a Pick that noticed a cooldown run
// out — possibly concurrently, so it must be safe for concurrent use, quick,
// and must not block.
func OnHealthChange(fn func(be *Backend, healthy bool, reason string)) Option {
	return func(o *options) { o.onChange = fn }
}

// WithPassiveHealth sets the passive health parameters.
func WithPassiveHealth(p PassiveHealth) Option {
	return func(o *options) { o.passive = p }
}

// WithAllDownFallback makes Pick choose among all backends, ignoring health,
// when every eligible backend is down (nginx's behaviour). Without it Pick
// returns ErrNoBackend (HAProxy's behaviour). Excluded backends stay
// excluded either way.
func WithAllDownFallback() Option {
	return func(o *options) { o.allFallback = true }
}

// WithInitialHealth sets the state backends start in; the default is
// healthy. Backends that start unhealthy stay down until RunHealthChecks
// brings them up.
func WithInitialHealth(healthy bool) Option {
	return func(o *options) { o.startDown = !healthy }
}
