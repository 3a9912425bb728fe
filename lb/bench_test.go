package lb

import (
	"testing"
)

// benchBalancer is a realistic small pool: 8 weighted backends, one down.
func benchBalancer(tb testing.TB, p Policy) *Balancer {
	b := mustNew(tb, backends(8, 1, 2, 1, 3, 1, 1, 2, 1), p)
	b.setHeld(b.backends[3], "bench")
	return b
}

func TestPickDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector changes allocation counts")
	}
	for _, p := range allPolicies {
		t.Run(string(p), func(t *testing.T) {
			b := benchBalancer(t, p)
			key := []byte("192.0.2.1")
			exclude := []*Backend{b.backends[0]}
			n := testing.AllocsPerRun(1000, func() {
				be, err := b.Pick(key, exclude)
				if err != nil {
					t.Fatal(err)
				}
				be.Acquire()
				be.Release()
			})
			if n != 0 {
				t.Fatalf("Pick allocates %v times per call", n)
			}
		})
	}
}

func BenchmarkPick(b *testing.B) {
	for _, p := range allPolicies {
		b.Run(string(p), func(b *testing.B) {
			bal := benchBalancer(b, p)
			key := []byte("192.0.2.1")
			b.ReportAllocs()
			for b.Loop() {
				key[len(key)-1]++
				if _, err := bal.Pick(key, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkPickParallel(b *testing.B) {
	for _, p := range allPolicies {
		b.Run(string(p), func(b *testing.B) {
			bal := benchBalancer(b, p)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				key := []byte("192.0.2.1")
				for pb.Next() {
					key[len(key)-1]++
					be, err := bal.Pick(key, nil)
					if err != nil {
						b.Fatal(err)
					}
					be.Acquire()
					be.Release()
				}
			})
		})
	}
}
