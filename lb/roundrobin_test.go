package lb

import (
	"strings"
	"testing"
)

func TestSmoothWeightedRoundRobinSequence(t *testing.T) {
	for _, tc := range []struct {
		name    string
		weights []int
		want    string // picks, two cycles
	}{
		{"nginx 5,1,1", []int{5, 1, 1}, "aabacaa" + "aabacaa"},
		{"equal", []int{1, 1, 1}, "abc" + "abc"},
		{"4,2,1", []int{4, 2, 1}, "abacaba" + "abacaba"},
		{"single", []int{3}, "aaa" + "aaa"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := mustNew(t, backends(len(tc.weights), tc.weights...), RoundRobin)
			var got strings.Builder
			for range len(tc.want) {
				be, err := b.Pick(nil, nil)
				if err != nil {
					t.Fatal(err)
				}
				got.WriteString(be.Addr)
			}
			if got.String() != tc.want {
				t.Fatalf("sequence %q, want %q", got.String(), tc.want)
			}
		})
	}
}

func TestRoundRobinSkipsDownBackend(t *testing.T) {
	b := mustNew(t, backends(3), RoundRobin)
	b.setHeld(b.backends[1], "test")
	counts := pickCounts(t, b, 100, nil)
	if counts["b"] != 0 || counts["a"] != 50 || counts["c"] != 50 {
		t.Fatalf("counts with b down = %v, want a:50 c:50", counts)
	}
}
