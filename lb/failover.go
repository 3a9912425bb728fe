package lb

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/sluice-proxy/sluice/internal/localerr"
)

// DialFunc connects to a backend address: a real socket (see NetDialer) or
// a virtual upstream. It should bound its own connect time
// (net.Dialer.Timeout) when one attempt must not use up the whole Failover
// budget.
type DialFunc func(ctx context.Context, addr string) (net.Conn, error)

// NetDialer adapts d.DialContext on network ("tcp", "tcp4", "unix", ...) to
// a DialFunc. A nil d is a zero net.Dialer.
func NetDialer(d *net.Dialer, network string) DialFunc {
	if d == nil {
		d = &net.Dialer{}
	}
	return func(ctx context.Context, addr string) (net.Conn, error) {
		return d.DialContext(ctx, network, addr)
	}
}

// Failover bounds Balancer.Dial.
type Failover struct {
	// Tries is the most backends tried; 0 means min(3, number of
	// backends). No backend is tried twice in one call, so the number of
	// healthy backends bounds it too.
	Tries int
	// Budget is the total time for all attempts; 0 means only ctx bounds
	// them.
	Budget time.Duration
}

// DefaultTries is the most backends Dial tries when Failover.Tries is 0.
const DefaultTries = 3

// Dial connects to a backend chosen by the policy (key as for Pick), failing
// over to other backends in policy order: on a dial error the backend is
// reported (ReportFailure) and the next one tried, never the same one twice.
// It stops after f.Tries attempts, when f.Budget or ctx runs out, or when no
// untried healthy backend is left. A dial error caused by ctx or the budget
// ending is not held against the backend, nor is one caused by a lack of
// local resources (ErrLocalResource), which also ends the tries.
//
// On success it returns the connection, the backend — already Acquired, so
// the caller must call Release when the connection ends — and the number of
// attempts. On failure the error wraps ErrAllFailed and joins every
// attempt's error (with ErrNoBackend if no backend could be picked, and the
// context's error if it ended before an attempt). A nil dial dials TCP with
// a zero net.Dialer.
func (b *Balancer) Dial(ctx context.Context, key []byte, dial DialFunc, f Failover) (net.Conn, *Backend, int, error) {
	if dial == nil {
		dial = NetDialer(nil, "tcp")
	}
	tries := f.Tries
	if tries <= 0 {
		tries = min(DefaultTries, len(b.backends))
	}
	if f.Budget > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, f.Budget)
		defer cancel()
	}
	var triedBuf [DefaultTries]*Backend
	tried := triedBuf[:0]
	var errs []error
	attempts := 0
	for attempts < tries {
		if err := ctx.Err(); err != nil {
			errs = append(errs, err)
			break
		}
		be, err := b.Pick(key, tried)
		if err != nil {
			errs = append(errs, err)
			break
		}
		tried = append(tried, be)
		attempts++
		be.Acquire()
		conn, err := dial(ctx, be.Addr)
		if err == nil {
			b.ReportSuccess(be)
			return conn, be, attempts, nil
		}
		be.Release()
		errs = append(errs, fmt.Errorf("lb: dial %s: %w", be.Addr, err))
		if cerr := ctx.Err(); cerr != nil {
			// Our deadline or cancellation, not the backend's fault.
			if !errors.Is(err, cerr) {
				errs = append(errs, cerr)
			}
			break
		}
		if localerr.Is(err) {
			// Out of descriptors or memory ourselves: not the backend's
			// fault, and the next backend would fail the same way.
			errs = append(errs, ErrLocalResource)
			break
		}
		b.ReportFailure(be)
	}
	if len(errs) == 0 { // a Balancer without backends
		errs = append(errs, ErrNoBackend)
	}
	return nil, nil, attempts, fmt.Errorf("%w: %w", ErrAllFailed, errors.Join(errs...))
}
