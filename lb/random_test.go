package lb

import "testing"

func TestRandomSpreads(t *testing.T) {
	const n = 6000
	b := mustNew(t, backends(3), Random)
	counts := pickCounts(t, b, n, nil)
	for _, addr := range []string{"a", "b", "c"} {
		// Expected 2000 each; a binomial sd is ~37, so these bounds only
		// fail for a broken sampler.
		if c := counts[addr]; c < 1600 || c > 2400 {
			t.Errorf("%s picked %d/%d times, want ~%d", addr, c, n, n/3)
		}
	}
}

func TestRandomFollowsWeightsWhenIdle(t *testing.T) {
	const n = 8000
	b := mustNew(t, backends(2, 3, 1), Random)
	counts := pickCounts(t, b, n, nil)
	if c := counts["a"]; c < n*65/100 || c > n*85/100 {
		t.Fatalf("weight 3 of 4 got %d/%d picks, want ~75%%", c, n)
	}
}

func TestRandomAvoidsLoadedBackend(t *testing.T) {
	const n = 3000
	b := mustNew(t, backends(3), Random)
	for range 10 {
		b.backends[0].Acquire()
	}
	counts := pickCounts(t, b, n, nil)
	// a is only chosen when both candidates are a, which distinct
	// sampling rules out: with two other idle backends it never wins.
	if counts["a"] != 0 {
		t.Fatalf("loaded backend picked %d times: %v", counts["a"], counts)
	}
	if counts["b"] < n/4 || counts["c"] < n/4 {
		t.Fatalf("idle backends not shared: %v", counts)
	}
}

func TestRandomSlowPathManyDown(t *testing.T) {
	// With 49 of 50 down, the fast draws nearly always miss; the slow path
	// must still find the one healthy backend every time.
	b := mustNew(t, backends(50), Random)
	for _, be := range b.backends[1:] {
		b.setHeld(be, "test")
	}
	counts := pickCounts(t, b, 200, nil)
	if counts[b.backends[0].Addr] != 200 {
		t.Fatalf("counts = %v, want all on the first", counts)
	}
}
