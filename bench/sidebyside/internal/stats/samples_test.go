package stats

import (
	"testing"
	"time"
)

func TestSummarize(t *testing.T) {
	tests := []struct {
		name          string
		in            Samples
		p50, p99, max time.Duration
	}{
		{"empty", nil, 0, 0, 0},
		{"one", Samples{7}, 7, 7, 7},
		{"two", Samples{2, 1}, 1, 2, 2},
		{"hundred", seq(100), 50, 99, 100},
		{"thousand", seq(1000), 500, 990, 1000},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.in.Summarize()
			if got.Count != len(tc.in) || got.P50 != tc.p50 || got.P99 != tc.p99 || got.Max != tc.max {
				t.Fatalf("Summarize = %+v, want count=%d p50=%v p99=%v max=%v", got, len(tc.in), tc.p50, tc.p99, tc.max)
			}
		})
	}
}

func TestMerge(t *testing.T) {
	got := Merge(Samples{3, 1}, nil, Samples{2}).Summarize()
	if got.Count != 3 || got.P50 != 2 || got.Max != 3 {
		t.Fatalf("Merge+Summarize = %+v", got)
	}
}

// seq returns 1..n in reverse order, so Summarize must sort.
func seq(n int) Samples {
	s := make(Samples, n)
	for i := range s {
		s[i] = time.Duration(n - i)
	}
	return s
}
