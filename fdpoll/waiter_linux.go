package fdpoll

import (
	"sync"
	"sync/atomic"
	"time"
)

// waiter is one direction (read or write) of a Conn: the readiness the
// poller has seen, the goroutine parked waiting for more, and the deadline.
//
// seq counts the readiness edges the poller has delivered. The I/O goroutine
// records in idle the seq at which it found the socket drained (EAGAIN, or a
// short read with no end of stream pending); while seq still equals idle
// there is nothing to do but wait. To wait it sets parked and re-checks seq;
// the poller bumps seq, then clears parked and, if it was set, sends a token.
// Whichever of the two runs second sees the other's step, so no edge is lost
// and no token is left behind.
type waiter struct {
	seq    atomic.Uint32
	parked atomic.Bool
	ch     chan struct{} // capacity 1: the poller never blocks on it
	idle   uint32        // owned by the goroutine holding the direction's lock

	dlMu    sync.Mutex
	dlAt    int64 // UnixNano of the deadline; 0: none (under dlMu)
	dlTimer *time.Timer
	expired atomic.Bool
}

func (w *waiter) init() {
	w.ch = make(chan struct{}, 1)
	w.seq.Store(1) // idle is 0: the first operation tries the system call
}

// post records a readiness edge. It reports whether a goroutine is parked
// and must be woken with wake.
func (w *waiter) post() bool {
	w.seq.Add(1)
	return w.parked.Swap(false)
}

// wake hands the token to the goroutine post found parked.
func (w *waiter) wake() { w.ch <- struct{}{} }

// interrupt wakes a parked goroutine so that it sees a change of state
// (closed, deadline passed) that is not a readiness edge.
func (w *waiter) interrupt() {
	if w.parked.Swap(false) {
		w.ch <- struct{}{}
	}
}

// wait parks until seq moves past s, the deadline passes or closed is set.
func (w *waiter) wait(s uint32, closed *atomic.Bool) {
	w.parked.Store(true)
	if w.seq.Load() != s || w.expired.Load() || closed.Load() {
		if w.parked.CompareAndSwap(true, false) {
			return
		}
		// post or interrupt cleared parked first: its token is on the way.
	}
	<-w.ch
}

// setDeadline sets the direction's deadline; the zero time removes it. A
// goroutine parked in wait is woken when the deadline passes, or at once
// when it is already past.
func (w *waiter) setDeadline(t time.Time) {
	w.dlMu.Lock()
	if t.IsZero() {
		w.dlAt = 0
		w.expired.Store(false)
		if w.dlTimer != nil {
			w.dlTimer.Stop()
		}
		w.dlMu.Unlock()
		return
	}
	w.dlAt = t.UnixNano()
	d := time.Until(t)
	if d <= 0 {
		if w.dlTimer != nil {
			w.dlTimer.Stop()
		}
		w.expired.Store(true)
		w.dlMu.Unlock()
		w.interrupt()
		return
	}
	w.expired.Store(false)
	if w.dlTimer == nil {
		w.dlTimer = time.AfterFunc(d, w.fire)
	} else {
		w.dlTimer.Reset(d)
	}
	w.dlMu.Unlock()
}

// fire runs when the deadline timer goes off; a deadline moved since then is
// left alone.
func (w *waiter) fire() {
	w.dlMu.Lock()
	if w.dlAt == 0 || time.Now().UnixNano() < w.dlAt {
		w.dlMu.Unlock()
		return
	}
	w.expired.Store(true)
	w.dlMu.Unlock()
	w.interrupt()
}

// stopTimer releases the deadline timer when the Conn closes.
func (w *waiter) stopTimer() {
	w.dlMu.Lock()
	if w.dlTimer != nil {
		w.dlTimer.Stop()
	}
	w.dlMu.Unlock()
}
