package httpproxy

import "time"

// lazyDeadline keeps one of a connection's deadlines (read or write) and
// moves it only when needed: a bound d is set again only once less than
// three quarters of it is left, so a busy kept-alive connection re-arms its
// timer every few seconds instead of on every request. The bound in force
// is therefore between 3d/4 and d.
type lazyDeadline struct{ at time.Time }

// extend makes the deadline between 3d/4 and d from now (none when
// d <= 0). now is a recent reading of the clock, taken by the caller for
// several deadlines at once; it must not be older than a fraction of d.
func (l *lazyDeadline) extend(now time.Time, set func(time.Time) error, d time.Duration) {
	if d <= 0 {
		if !l.at.IsZero() {
			l.at = time.Time{}
			set(l.at)
		}
		return
	}
	if rem := l.at.Sub(now); !l.at.IsZero() && rem >= d-d/4 && rem <= d {
		return
	}
	l.at = now.Add(d)
	set(l.at)
}

// clear removes the deadline.
func (l *lazyDeadline) clear(set func(time.Time) error) {
	l.at = time.Time{}
	set(l.at)
}
