// Package stats summarises the latency samples the side-by-side load generators record.
//
// Each worker appends to its own Samples (no locking on the hot path); the
// tool merges them once at the end:
//
//	var s stats.Samples
//	s.Add(time.Since(t0))
//	sum := stats.Merge(a, b).Summarize()
//	fmt.Println(sum.P50, sum.P99)
package stats

import (
	"slices"
	"time"
)

// Samples is a list of latency observations, one per completed operation.
type Samples []time.Duration

// Add appends one observation.
func (s *Samples) Add(d time.Duration) { *s = append(*s, d) }

// Merge concatenates the samples of several workers into a new Samples.
func Merge(parts ...Samples) Samples {
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	out := make(Samples, 0, n)
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// Summary is the digest of a Samples: count and nearest-rank percentiles.
type Summary struct {
	Count         int
	P50, P99, Max time.Duration
}

// Summarize sorts s in place and returns its count, p50, p99 and maximum.
// An empty Samples yields the zero Summary.
func (s Samples) Summarize() Summary {
	if len(s) == 0 {
		return Summary{}
	}
	slices.Sort(s)
	return Summary{
		Count: len(s),
		P50:   s.percentile(50),
		P99:   s.percentile(99),
		Max:   s[len(s)-1],
	}
}

// percentile returns the nearest-rank p-th percentile of the sorted, non-empty s.
func (s Samples) percentile(p float64) time.Duration {
	rank := int(p/100*float64(len(s))+0.999999) - 1 // ceil(p/100*n) - 1
	rank = max(0, min(rank, len(s)-1))
	return s[rank]
}

// Micros renders d in microseconds with one decimal, the unit every tool reports.
func Micros(d time.Duration) float64 {
	return float64(d.Round(100*time.Nanosecond)) / float64(time.Microsecond)
}
