package vstream

import (
	"sync"
	"time"
)

// Deadline is the deadline half of a net.Conn for streams that are not
// sockets: Set arms it, and Done returns a channel that is closed once the
// deadline has passed. A stream keeps one Deadline for reads and one for
// writes and selects on Done wherever it would block. The zero value has no
// deadline set and is ready to use; it must not be copied after first use.
type Deadline struct {
	mu      sync.Mutex
	timer   *time.Timer
	expired chan struct{} // closed when the deadline passes; nil until needed
	closed  bool          // expired is closed
}

// Set arms the deadline at t, replacing any earlier one. The zero t clears
// it; a t in the past expires it at once. Operations already waiting on Done
// see the new deadline.
func (d *Deadline) Set(t time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.timer != nil {
		// If the timer has already fired, its callback waits for d.mu,
		// then sees it is no longer d.timer and does nothing.
		d.timer.Stop()
		d.timer = nil
	}
	// A channel that has not been closed stays, so that operations waiting
	// on it see the new deadline; a closed one is replaced.
	if d.expired == nil || d.closed {
		d.expired = make(chan struct{})
		d.closed = false
	}
	if t.IsZero() {
		return
	}
	dur := time.Until(t)
	if dur <= 0 {
		close(d.expired)
		d.closed = true
		return
	}
	var timer *time.Timer
	timer = time.AfterFunc(dur, func() {
		d.mu.Lock()
		defer d.mu.Unlock()
		if d.timer == timer && !d.closed {
			close(d.expired)
			d.closed = true
		}
	})
	d.timer = timer
}

// Done returns a channel that is closed when the deadline passes. Take it
// afresh for each wait: Set replaces the channel.
func (d *Deadline) Done() <-chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.expired == nil {
		d.expired = make(chan struct{})
	}
	return d.expired
}

// Exceeded reports whether the deadline has passed.
func (d *Deadline) Exceeded() bool {
	select {
	case <-d.Done():
		return true
	default:
		return false
	}
}
