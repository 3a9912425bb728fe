package lb

import "errors"

var (
	// ErrNoBackend is returned by [Balancer.Pick] when no backend is
	// eligible: every backend is unhealthy or excluded.
	ErrNoBackend = errors.New("lb: no backend available")

	// ErrAllFailed wraps the joined errors of every attempt when
	// [Balancer.Dial] could not connect to any backend.
	ErrAllFailed = errors.New("lb: all backends failed")

	// ErrLocalResource is joined into [Balancer.Dial]'s error when a dial
	// failed for lack of a resource of this process or host (descriptors,
	// memory, socket buffers, local ports: EMFILE, ENFILE, ENOMEM, ENOBUFS,
	// EADDRNOTAVAIL). Such a failure says nothing of the backend: it is
	// not reported against it, and Dial tries no other backend, as every
	// dial would fail the same way. Health probes failing this way are
	// ignored likewise.
	ErrLocalResource = errors.New("lb: out of local resources; no backend blamed")

	// ErrInvalidConfig wraps every error [New] returns for a bad
	// configuration.
	ErrInvalidConfig = errors.New("lb: invalid config")
)
