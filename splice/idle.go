package splice

import (
	"errors"
	"sync/atomic"
	"time"
)

// ErrIdleTimeout is returned by [Join] when no byte moved in either direction
// for JoinOptions.IdleTimeout.
var ErrIdleTimeout = errors.New("splice: idle timeout")

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
