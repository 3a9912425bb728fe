package connfilter

import (
	"context"
	"net/netip"
	"sync"
	"testing"
)

// TestConcurrentChain runs many goroutines through a chain of all the
// built-ins at once, with the CIDR lists being replaced meanwhile. At the
// end every count must be back to zero. Run with -race.
func TestConcurrentChain(t *testing.T) {
	ctx := context.Background()
	mc := NewMaxConns(50)
	pip := NewMaxConnsPerIP(3)
	rate := NewRate(1e9, 1000) // effectively unlimited, but exercised
	cidr, err := NewCIDR(nil, prefixes("10.0.99.0/24"))
	if err != nil {
		t.Fatal(err)
	}
	f := Chain(cidr, mc, pip, rate)

	stop := make(chan struct{})
	var setter sync.WaitGroup
	setter.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if err := cidr.Set(nil, prefixes("10.0.99.0/24", "10.0.98.0/24")[:1+i%2]); err != nil {
				t.Error(err)
				return
			}
		}
	})

	var workers sync.WaitGroup
	var mu sync.Mutex
	admitted := 0
	for w := range 8 {
		workers.Go(func() {
			var held []func()
			for i := range 2000 {
				ip := netip.AddrFrom4([4]byte{10, 0, byte(w), byte(i % 16)})
				rel, err := f.Check(ctx, &Info{Client: netip.AddrPortFrom(ip, uint16(i))})
				if err != nil {
					switch Reason(err) {
					case "max_conns", "max_conns_per_ip":
					default:
						t.Errorf("unexpected refusal: %v", err)
						return
					}
				} else {
					held = append(held, rel)
					mu.Lock()
					admitted++
					mu.Unlock()
				}
				if len(held) > 4 || i%7 == 0 {
					for _, r := range held {
						r()
					}
					held = held[:0]
				}
			}
			for _, r := range held {
				r()
			}
		})
	}
	workers.Wait()
	close(stop)
	setter.Wait()
	if admitted == 0 {
		t.Fatal("nothing admitted")
	}
	if mc.Count() != 0 || pip.Len() != 0 {
		t.Fatalf("after all releases: MaxConns %d, per-IP entries %d; want 0, 0", mc.Count(), pip.Len())
	}
}
