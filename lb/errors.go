package lb

import "errors"

var (
	// ErrNoBackend is returned by [Balancer.Pick] when no backend is
	// eligible: every backend is unhealthy or excluded.
	ErrNoBackend = errors.New("lb: no backend available")

	// ErrAllFailed wraps the joined errors of every attempt when
	// [Balancer.Dial] could not connect to any backend.
	ErrAllFailed = errors.New("lb: all backends failed")

	// ErrInvalidConfig wraps every error [New] returns for a bad
	// configuration.
	ErrInvalidConfig = errors.New("lb: invalid config")
)
