package lb

import "testing"

func TestLeastConnPicksIdle(t *testing.T) {
	b := mustNew(t, backends(3), LeastConn)
	b.backends[0].Acquire()
	b.backends[2].Acquire()
	b.backends[2].Acquire()
	for range 10 {
		be, err := b.Pick(nil, nil)
		if err != nil || be.Addr != "b" {
			t.Fatalf("Pick = %v, %v; want the idle b", be, err)
		}
	}
	// Take b into use the way a proxy would; now a and b tie at 1, c has 2.
	b.backends[1].Acquire()
	counts := pickCounts(t, b, 10, nil)
	if counts["c"] != 0 || counts["a"] == 0 || counts["b"] == 0 {
		t.Fatalf("counts = %v, want a and b sharing, never c", counts)
	}
}

func TestLeastConnWeighted(t *testing.T) {
	// a (weight 4) with 3 in flight has 0.75/unit, b (weight 1) with 1
	// has 1/unit: a is less loaded.
	b := mustNew(t, backends(2, 4, 1), LeastConn)
	for range 3 {
		b.backends[0].Acquire()
	}
	b.backends[1].Acquire()
	be, err := b.Pick(nil, nil)
	if err != nil || be.Addr != "a" {
		t.Fatalf("Pick = %v, %v; want a", be, err)
	}
}

func TestLeastConnTiesRotate(t *testing.T) {
	b := mustNew(t, backends(3), LeastConn)
	counts := pickCounts(t, b, 9, nil)
	for _, addr := range []string{"a", "b", "c"} {
		if counts[addr] != 3 {
			t.Fatalf("idle ties: counts = %v, want 3 each", counts)
		}
	}
}

func TestLeastConnSimulatedLoad(t *testing.T) {
	// Every pick is held open: least_conn must keep the in-flight counts
	// level (max - min <= 1).
	b := mustNew(t, backends(4), LeastConn)
	for range 101 {
		be, err := b.Pick(nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		be.Acquire()
	}
	lo, hi := int64(1<<62), int64(0)
	for _, be := range b.backends {
		lo, hi = min(lo, be.Active()), max(hi, be.Active())
	}
	if hi-lo > 1 {
		t.Fatalf("in-flight spread %d..%d, want within 1", lo, hi)
	}
}
