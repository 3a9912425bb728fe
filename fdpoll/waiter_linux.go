package fdpoll

import (
	"sync"
	"sync/atomic"
	"time"
)

// waiter is one direction (read or write) of a Conn: the readiness the
// Poller has seen, the goroutine parked waiting for more, and the deadline.
//
// seq counts the readiness edges delivered for this direction. The I/O
// goroutine records in idle the seq at which it found the socket drained
// (EAGAIN, or a short read with no end of stream pending); while seq still
// equals idle there is nothing to do but wait. To park it sets parked and
// re-checks seq; whoever delivers an edge bumps seq, then clears parked and,
// if it was set, sends a token. Whichever of the two runs second sees the
// other's step, so no edge is lost and no token is left behind.
type waiter struct {
	p      *set
	down   *atomic.Bool // the Conn's: closed, or the Poller is
	seq    atomic.Uint32
	parked atomic.Bool
	ch     chan struct{} // capacity 1: a sender never blocks on it
	idle   uint32        // owned by the goroutine holding the direction's lock

	leading atomic.Bool // this goroutine is the Poller's leader, waiting in epoll
	fidx    int         // index in p.followers while listed there (under p.mu), else -1

	dlMu    sync.Mutex
	dlAt    int64 // UnixNano of the deadline; 0: none (under dlMu)
	dlTimer *time.Timer
	expired atomic.Bool
}

func (w *waiter) init(p *set, down *atomic.Bool) {
	w.p, w.down = p, down
	w.ch = make(chan struct{}, 1)
	w.fidx = -1
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

// interrupt makes the waiting goroutine look at its state again after a
// change that is not a readiness edge (closed, deadline passed, asked to
// lead): a parked one gets a token, a leader waiting in epoll is kicked.
func (w *waiter) interrupt() {
	if w.parked.Swap(false) {
		w.ch <- struct{}{}
		return
	}
	if w.leading.Load() {
		w.p.kick()
	}
}

// done reports whether a goroutine waiting at seq s must stop waiting.
func (w *waiter) done(s uint32) bool {
	return w.seq.Load() != s || w.expired.Load() || w.down.Load() || w.p.closed.Load()
}

// wait returns when seq has moved past s, the deadline has passed, or the
// Conn or the Poller is closed (and sometimes early: callers re-check).
//
// Waiting goroutines take turns leading (leader/follower): the first to wait
// becomes the leader and waits in the Poller's epoll set itself, parked in
// Go's netpoller, so with one connection waiting its wake-up costs what a
// plain socket's does. Others park on their channel; the leader hands them
// the events it takes, in arrival order. When its own event comes, the
// leader leaves and wakes the longest-waiting follower to lead next.
func (w *waiter) wait(s uint32) {
	p := w.p
	followed := false
	for !w.done(s) {
		if p.leader.CompareAndSwap(false, true) {
			p.lead(w, s)
			p.leader.Store(false)
			p.promote()
			return
		}
		p.follow(w)
		w.parked.Store(true)
		if w.done(s) || !p.leader.Load() {
			if !w.parked.CompareAndSwap(true, false) {
				<-w.ch // a token is on its way: take it
			}
		} else {
			<-w.ch
		}
		p.handoff.CompareAndSwap(w, nil)
		p.unfollow(w)
		followed = true
	}
	// A token that came with this goroutine's own event may have been its
	// turn to lead as well: if nobody leads, pass the turn on.
	if followed && !p.leader.Load() {
		p.promote()
	}
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
