package lb

import "sync/atomic"

// leastConn picks the eligible backend with the lowest Active()/Weight. The
// scan starts one backend further on each call, so among equally loaded
// backends the first found rotates instead of always being the first
// configured.
type leastConn struct {
	next atomic.Uint64
}

func (l *leastConn) pick(b *Balancer, exclude []*Backend, anyHealth bool) *Backend {
	n := len(b.backends)
	start := int(l.next.Add(1) % uint64(n))
	var best *Backend
	var bestActive, bestWeight int64
	for k := range n {
		i := start + k
		if i >= n {
			i -= n
		}
		be := b.backends[i]
		if !b.eligible(be, exclude, anyHealth) {
			continue
		}
		a, w := be.Active(), int64(be.Weight)
		// a/w < bestActive/bestWeight ⇔ a*bestWeight < bestActive*w.
		if best == nil || a*bestWeight < bestActive*w {
			best, bestActive, bestWeight = be, a, w
		}
	}
	return best
}
