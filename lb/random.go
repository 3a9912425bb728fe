package lb

import "math/rand/v2"

// weightedP2C is the power of two choices: two distinct candidates drawn in
// proportion to weight, the one with the lower Active()/Weight wins (the
// first on a tie, which is itself a weighted draw, so idle backends share
// load by weight).
type weightedP2C struct {
	cum   []uint64 // cum[i] = sum of weights of backends[0..i]
	total uint64
}

// fastTries is how many weighted draws from the whole set are tried before
// falling back to a draw among the eligible backends only.
const fastTries = 3

func (p *weightedP2C) init(bs []*Backend) {
	p.cum = make([]uint64, len(bs))
	for i, be := range bs {
		p.total += uint64(be.Weight)
		p.cum[i] = p.total
	}
}

func (p *weightedP2C) pick(b *Balancer, exclude []*Backend, anyHealth bool) *Backend {
	first := p.sample(b, exclude, anyHealth, nil)
	if first == nil {
		return nil
	}
	second := p.sample(b, exclude, anyHealth, first)
	if second == nil {
		return first
	}
	// second wins only if strictly less loaded per unit of weight:
	// a2/w2 < a1/w1  ⇔  a2*w1 < a1*w2.
	if second.Active()*int64(first.Weight) < first.Active()*int64(second.Weight) {
		return second
	}
	return first
}

// sample draws one eligible backend other than not, in proportion to weight.
func (p *weightedP2C) sample(b *Balancer, exclude []*Backend, anyHealth bool, not *Backend) *Backend {
	for range fastTries {
		be := b.backends[p.search(rand.Uint64N(p.total))]
		if be != not && b.eligible(be, exclude, anyHealth) {
			return be
		}
	}
	// Slow path: many backends are down or excluded. Draw among the
	// eligible ones only.
	var total uint64
	for _, be := range b.backends {
		if be != not && b.eligible(be, exclude, anyHealth) {
			total += uint64(be.Weight)
		}
	}
	if total == 0 {
		return nil
	}
	r := rand.Uint64N(total)
	var last *Backend
	for _, be := range b.backends {
		if be == not || !b.eligible(be, exclude, anyHealth) {
			continue
		}
		w := uint64(be.Weight)
		if r < w {
			return be
		}
		r -= w
		last = be
	}
	return last // health changed between the two passes
}

// search returns the index of the backend owning weight unit r.
func (p *weightedP2C) search(r uint64) int {
	lo, hi := 0, len(p.cum)-1
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if p.cum[m] > r {
			hi = m
		} else {
			lo = m + 1
		}
	}
	return lo
}
