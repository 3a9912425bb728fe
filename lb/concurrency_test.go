package lb

import (
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestConcurrentUse hammers every entry point at once; run it with -race.
func TestConcurrentUse(t *testing.T) {
	for _, p := range allPolicies {
		t.Run(string(p), func(t *testing.T) {
			var flips atomic.Int64
			b := mustNew(t, backends(5, 1, 2, 3, 1, 1), p,
				WithAllDownFallback(),
				WithPassiveHealth(PassiveHealth{FailThreshold: 2, Cooldown: time.Nanosecond}),
				OnHealthChange(func(be *Backend, healthy bool, reason string) { flips.Add(1) }))

			probeErr := errors.New("flaky")
			stop := runChecks(t, b, HealthCheck{
				Interval: time.Millisecond, Rise: 1, Fall: 1,
				Probe: func(ctx context.Context, addr string) error {
					if rand.IntN(2) == 0 {
						return probeErr
					}
					return nil
				},
			})

			pipeDial := func(ctx context.Context, addr string) (net.Conn, error) {
				if rand.IntN(3) == 0 {
					return nil, errors.New("refused")
				}
				c1, c2 := net.Pipe()
				c2.Close()
				return c1, nil
			}

			var wg sync.WaitGroup
			for g := range 8 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					key := make([]byte, 0, 16)
					for i := range 500 {
						key = append(key[:0], byte(g), byte(i), byte(i>>8))
						if i%10 == 0 {
							conn, be, _, err := b.Dial(context.Background(), key, pipeDial, Failover{})
							if err == nil {
								conn.Close()
								be.Release()
							} else if !errors.Is(err, ErrAllFailed) {
								t.Errorf("Dial: %v", err)
								return
							}
							continue
						}
						be, err := b.Pick(key, nil)
						if err != nil {
							t.Errorf("Pick with fallback: %v", err)
							return
						}
						be.Acquire()
						if rand.IntN(4) == 0 {
							b.ReportFailure(be)
						} else {
							b.ReportSuccess(be)
						}
						_ = be.Healthy()
						be.Release()
					}
				}()
			}
			wg.Wait()
			stop()
			for _, be := range b.backends {
				if be.Active() != 0 {
					t.Errorf("%s: Active %d after all released", be, be.Active())
				}
			}
			if flips.Load() == 0 {
				t.Error("no health flips observed; the test exercised nothing")
			}
		})
	}
}
