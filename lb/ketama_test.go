package lb

import (
	"errors"
	"fmt"
	"slices"
	"testing"
)

const ketamaKeys = 10000

// owners returns the address each of ketamaKeys keys hashes to.
func owners(t *testing.T, b *Balancer, exclude []*Backend) []string {
	t.Helper()
	out := make([]string, ketamaKeys)
	for i := range out {
		be, err := b.Pick(intKey(i), exclude)
		if err != nil {
			t.Fatalf("Pick(%d): %v", i, err)
		}
		out[i] = be.Addr
	}
	return out
}

func TestKetamaSameKeySameBackend(t *testing.T) {
	b := mustNew(t, backends(5), Hash)
	first := owners(t, b, nil)
	if again := owners(t, b, nil); !slices.Equal(first, again) {
		t.Fatal("the same keys mapped differently on a second pass")
	}
	// Also under least_conn-style load changes: hashing ignores Active.
	b.backends[0].Acquire()
	if again := owners(t, b, nil); !slices.Equal(first, again) {
		t.Fatal("load changed the key mapping")
	}
}

func TestKetamaBalance(t *testing.T) {
	for _, tc := range []struct {
		name    string
		weights []int
	}{
		{"equal", []int{1, 1, 1, 1, 1}},
		{"weighted", []int{1, 2, 1, 4}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := mustNew(t, backends(len(tc.weights), tc.weights...), Hash)
			total := 0
			for _, w := range tc.weights {
				total += w
			}
			if len(b.ring.hashes) != PointsPerWeight*total {
				t.Fatalf("ring has %d points, want %d", len(b.ring.hashes), PointsPerWeight*total)
			}
			counts := map[string]int{}
			for _, addr := range owners(t, b, nil) {
				counts[addr]++
			}
			for i, be := range b.backends {
				fair := float64(ketamaKeys) * float64(tc.weights[i]) / float64(total)
				if got := float64(counts[be.Addr]); got < 0.7*fair || got > 1.3*fair {
					t.Errorf("%s (weight %d) owns %v keys, fair share %.0f", be, tc.weights[i], got, fair)
				}
			}
		})
	}
}

func TestKetamaRemovalRemapsOnlyItsKeys(t *testing.T) {
	all := backends(5)
	without := slices.Delete(slices.Clone(all), 2, 3) // drop "c"
	before := owners(t, mustNew(t, all, Hash), nil)
	after := owners(t, mustNew(t, without, Hash), nil)
	moved, movedTo := 0, map[string]int{}
	for i := range before {
		if before[i] == "c" {
			moved++
			movedTo[after[i]]++
			continue
		}
		if after[i] != before[i] {
			t.Fatalf("key %d moved %s → %s though its backend stayed", i, before[i], after[i])
		}
	}
	// c owned ~1/5 of the keys: those, and only those, move.
	if moved < ketamaKeys/10 || moved > ketamaKeys*3/10 {
		t.Fatalf("%d of %d keys moved, want ~%d", moved, ketamaKeys, ketamaKeys/5)
	}
	if len(movedTo) < 3 {
		t.Fatalf("c's keys went to only %v; consistent hashing spreads them", movedTo)
	}
}

func TestKetamaUnhealthyWalksLikeRemoval(t *testing.T) {
	// The ring without c is exactly the ring with c's points skipped, so a
	// down c must map every key as a Balancer that never had c.
	all := backends(5)
	want := owners(t, mustNew(t, slices.Delete(slices.Clone(all), 2, 3), Hash), nil)

	down := mustNew(t, all, Hash)
	down.setHeld(down.backends[2], "test")
	if got := owners(t, down, nil); !slices.Equal(got, want) {
		t.Fatal("keys of a down backend did not walk to the next backend on the ring")
	}

	excl := mustNew(t, all, Hash)
	if got := owners(t, excl, []*Backend{excl.backends[2]}); !slices.Equal(got, want) {
		t.Fatal("excluding a backend did not walk to the next backend on the ring")
	}
}

func TestKetamaConsistentAcrossInstances(t *testing.T) {
	cfg := backends(6, 1, 2, 3, 1, 2, 3)
	one := owners(t, mustNew(t, cfg, Hash), nil)
	two := owners(t, mustNew(t, cfg, Hash), nil)
	if !slices.Equal(one, two) {
		t.Fatal("two Balancers with the same config disagree")
	}
	rev := slices.Clone(cfg)
	slices.Reverse(rev)
	if three := owners(t, mustNew(t, rev, Hash), nil); !slices.Equal(one, three) {
		t.Fatal("configuration order changed the mapping")
	}
}

func TestKetamaWalkDistinctAndExhaustive(t *testing.T) {
	// 300 backends: more than the walk's 256-entry seen set.
	b := mustNew(t, backends(300), Hash)
	last := b.backends[299]
	for _, be := range b.backends[:299] {
		b.setHeld(be, "test")
	}
	for i := range 50 {
		be, err := b.Pick(intKey(i), nil)
		if err != nil || be != last {
			t.Fatalf("Pick = %v, %v; want the only healthy %s", be, err, last)
		}
	}
	b.setHeld(last, "test")
	if be, err := b.Pick([]byte("k"), nil); !errors.Is(err, ErrNoBackend) {
		t.Fatalf("all down: Pick = %v, %v", be, err)
	}

	// Excluding backends in turn, a key visits every backend exactly once.
	small := mustNew(t, backends(7), Hash)
	var tried []*Backend
	for range 7 {
		be, err := small.Pick([]byte("sticky"), tried)
		if err != nil {
			t.Fatal(err)
		}
		if slices.Contains(tried, be) {
			t.Fatalf("%s picked twice", be)
		}
		tried = append(tried, be)
	}
	if _, err := small.Pick([]byte("sticky"), tried); !errors.Is(err, ErrNoBackend) {
		t.Fatalf("all excluded: %v", err)
	}
}

func TestKetamaEmptyKeyRoundRobin(t *testing.T) {
	b := mustNew(t, backends(3), Hash)
	var got string
	for range 6 {
		be, err := b.Pick(nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		got += be.Addr
	}
	if got != "abcabc" {
		t.Fatalf("empty keys picked %q, want round robin abcabc", got)
	}
}

func TestHash64(t *testing.T) {
	// FNV-1a of "" is the offset basis; check the finalizer runs and that
	// near-identical inputs land far apart in the high bits.
	if hash64(nil) == 14695981039346656037 {
		t.Fatal("hash64 lacks the finalizer")
	}
	hi := map[uint64]bool{}
	for i := range 256 {
		hi[hash64(fmt.Appendf(nil, "10.0.0.%d", i))>>56] = true
	}
	if len(hi) < 120 { // 256 draws into 256 buckets fill ~162
		t.Fatalf("top byte took only %d values over 256 similar keys", len(hi))
	}
}
