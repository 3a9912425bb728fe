package lb

import "sync"

// smoothWRR is nginx's smooth weighted round robin
// (ngx_http_upstream_get_peer): every pick adds each eligible backend's
// weight to its current weight, takes the backend with the largest current
// weight, and subtracts the total from it. Over sum(weights) picks each
// backend is chosen Weight times, interleaved.
type smoothWRR struct {
	mu      sync.Mutex
	current []int64 // indexed like Balancer.backends
}

func (r *smoothWRR) init(n int) { r.current = make([]int64, n) }

func (r *smoothWRR) pick(b *Balancer, exclude []*Backend, anyHealth bool) *Backend {
	r.mu.Lock()
	defer r.mu.Unlock()
	var best *Backend
	var total int64
	for i, be := range b.backends {
		if !b.eligible(be, exclude, anyHealth) {
			continue
		}
		w := int64(be.Weight)
		r.current[i] += w
		total += w
		if best == nil || r.current[i] > r.current[best.idx] {
			best = be
		}
	}
	if best != nil {
		r.current[best.idx] -= total
	}
	return best
}
