package splice

import (
	"errors"
	"sync/atomic"
	"time"
)

// ErrIdleTimeout is returned by [Join] when no byte moved in either direction
// for JoinOptions.IdleTimeout. [Pool.CopyWith] returns an *IdleTimeoutError,
// which matches it and says which end stalled.
var ErrIdleTimeout = errors.New("splice: idle timeout")

// IdleTimeoutError is the idle timeout of one copy (Pool.CopyWith): it
// says which end the copy was waiting on when the time ran out, so that a
// caller can blame the right party: the source that sent nothing
// (Write false) or the destination that took nothing (Write true). It
// matches ErrIdleTimeout with errors.Is.
type IdleTimeoutError struct {
	// Write is true when the copy was waiting to write to its
	// destination, false when it was waiting to read from its source.
	Write bool
}

// Error implements error.
func (e *IdleTimeoutError) Error() string {
	if e.Write {
		return "splice: idle timeout: the destination took no byte"
	}
	return "splice: idle timeout: the source sent no byte"
}

// Is reports whether target is ErrIdleTimeout.
func (e *IdleTimeoutError) Is(target error) bool { return target == ErrIdleTimeout }

// The two idle timeouts, made once: returning one allocates nothing.
var (
	errIdleRead  = &IdleTimeoutError{Write: false}
	errIdleWrite = &IdleTimeoutError{Write: true}
)

// idleClock tracks the last activity of both directions of a Join. Moving a
// chunk stores a monotonic timestamp; deadlines are set once and, when they
// fire, re-armed from the last activity instead of being pushed on every
// chunk.
type idleClock struct {
	timeout time.Duration
	start   time.Time    // monotonic base
	last    atomic.Int64 // nanoseconds after start of the last activity
}

func newIdleClock(timeout time.Duration) *idleClock {
	return &idleClock{timeout: timeout, start: time.Now()}
}

// touch records activity now. A nil clock does nothing.
func (c *idleClock) touch() {
	if c != nil {
		c.last.Store(int64(time.Since(c.start)))
	}
}

// deadline is the idle deadline counted from the last activity.
func (c *idleClock) deadline() time.Time {
	return c.start.Add(time.Duration(c.last.Load()) + c.timeout)
}

// next reports whether the idle timeout has passed and, if not, the deadline
// to re-arm.
func (c *idleClock) next() (time.Time, bool) {
	d := c.deadline()
	return d, !time.Now().Before(d)
}
