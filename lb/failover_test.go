package lb

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// serve listens on addr ("127.0.0.1:0" for any port) and accepts and closes
// connections until the returned stop is called (also at cleanup).
func serve(t *testing.T, addr string) (string, func()) {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen %s: %v", addr, err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	var once sync.Once
	stop := func() { once.Do(func() { ln.Close(); <-done }) }
	t.Cleanup(stop)
	return ln.Addr().String(), stop
}

// deadAddr returns a loopback address nothing listens on.
func deadAddr(t *testing.T) string {
	t.Helper()
	addr, stop := serve(t, "127.0.0.1:0")
	stop()
	return addr
}

func TestDialFailsOverPastDeadBackend(t *testing.T) {
	dead := deadAddr(t)
	live, _ := serve(t, "127.0.0.1:0")
	b := mustNew(t, []BackendConfig{{Addr: dead}, {Addr: live}}, RoundRobin)

	conn, be, attempts, err := b.Dial(context.Background(), nil, nil, Failover{})
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	defer conn.Close()
	if be.Addr != live || attempts != 2 || conn.RemoteAddr().String() != live {
		t.Fatalf("Dial = %v to %v after %d attempts; want %s after 2", be, conn.RemoteAddr(), attempts, live)
	}
	if be.Active() != 1 {
		t.Fatalf("returned backend Active = %d, want 1 (Acquired)", be.Active())
	}
	be.Release()
	deadBe := b.backends[0]
	if deadBe.Active() != 0 || deadBe.fails.Load() != 1 {
		t.Fatalf("dead backend: Active %d fails %d; want 0 and 1", deadBe.Active(), deadBe.fails.Load())
	}
}

func TestDialPassiveMarksDeadBackend(t *testing.T) {
	rec, events := eventRecorder(t)
	dead := deadAddr(t)
	live, _ := serve(t, "127.0.0.1:0")
	b := mustNew(t, []BackendConfig{{Addr: dead}, {Addr: live}}, RoundRobin, rec)
	for i := 0; ; i++ {
		if i == 10 {
			t.Fatal("dead backend never marked down")
		}
		conn, be, _, err := b.Dial(context.Background(), nil, nil, Failover{})
		if err != nil {
			t.Fatal(err)
		}
		conn.Close()
		be.Release()
		select {
		case ev := <-events:
			if ev.addr != dead || ev.healthy {
				t.Fatalf("event %+v", ev)
			}
		default:
			continue
		}
		break
	}
	for range 5 {
		conn, _, attempts, err := b.Dial(context.Background(), nil, nil, Failover{})
		if err != nil || attempts != 1 {
			t.Fatalf("after marking: attempts %d, err %v; want 1, nil", attempts, err)
		}
		conn.Close()
	}
}

// recordingDial fails every dial, recording the addresses it was asked for.
type recordingDial struct {
	mu    sync.Mutex
	addrs []string
}

func (r *recordingDial) dial(ctx context.Context, addr string) (net.Conn, error) {
	r.mu.Lock()
	r.addrs = append(r.addrs, addr)
	r.mu.Unlock()
	return nil, fmt.Errorf("refused by test (%s)", addr)
}

func TestDialTries(t *testing.T) {
	for _, tc := range []struct {
		name     string
		n, tries int
		want     int
		noneLeft bool
	}{
		{"default is 3", 5, 0, 3, false},
		{"default capped by backends", 2, 0, 2, false},
		{"explicit 2", 5, 2, 2, false},
		{"more tries than backends", 4, 10, 4, true},
	} {
		for _, p := range allPolicies {
			t.Run(tc.name+"/"+string(p), func(t *testing.T) {
				b := mustNew(t, backends(tc.n), p)
				var rd recordingDial
				conn, be, attempts, err := b.Dial(context.Background(), []byte("key"), rd.dial, Failover{Tries: tc.tries})
				if conn != nil || be != nil || err == nil {
					t.Fatalf("Dial = %v, %v, %v; want failure", conn, be, err)
				}
				if attempts != tc.want || len(rd.addrs) != tc.want {
					t.Fatalf("attempts %d, dials %v; want %d", attempts, rd.addrs, tc.want)
				}
				if !errors.Is(err, ErrAllFailed) {
					t.Fatalf("err %v does not wrap ErrAllFailed", err)
				}
				if errors.Is(err, ErrNoBackend) != tc.noneLeft {
					t.Fatalf("err %v: ErrNoBackend %v, want %v", err, !tc.noneLeft, tc.noneLeft)
				}
				sorted := slices.Clone(rd.addrs)
				slices.Sort(sorted)
				if len(slices.Compact(sorted)) != len(rd.addrs) {
					t.Fatalf("a backend was dialed twice: %v", rd.addrs)
				}
				for _, a := range rd.addrs {
					if !strings.Contains(err.Error(), "refused by test ("+a+")") {
						t.Fatalf("err %q lacks the attempt on %s", err, a)
					}
				}
				for _, be := range b.backends {
					if be.Active() != 0 {
						t.Fatalf("%s left Active %d", be, be.Active())
					}
				}
			})
		}
	}
}

func TestDialBudget(t *testing.T) {
	b := mustNew(t, backends(3), RoundRobin)
	var calls int
	var hadDeadline bool
	blockUntilDone := func(ctx context.Context, addr string) (net.Conn, error) {
		calls++
		_, hadDeadline = ctx.Deadline()
		<-ctx.Done()
		return nil, ctx.Err()
	}
	// Without the budget this Dial would never return. Normally it makes
	// one attempt; on a badly overloaded machine the budget may run out
	// before the first, which is also correct.
	_, _, attempts, err := b.Dial(context.Background(), nil, blockUntilDone, Failover{Tries: 3, Budget: 20 * time.Millisecond})
	if !errors.Is(err, ErrAllFailed) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v; want ErrAllFailed and DeadlineExceeded", err)
	}
	if attempts > 1 || calls != attempts || (calls == 1 && !hadDeadline) {
		t.Fatalf("attempts %d calls %d deadline %v; the budget must bound the first dial and stop further ones", attempts, calls, hadDeadline)
	}
	for _, be := range b.backends {
		if be.fails.Load() != 0 || be.Active() != 0 {
			t.Fatalf("%s: fails %d active %d; running out of budget is not the backend's fault", be, be.fails.Load(), be.Active())
		}
	}

	// The caller's own context bounds Dial too, before any attempt.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, _, attempts, err = b.Dial(ctx, nil, blockUntilDone, Failover{})
	if attempts != 0 || !errors.Is(err, context.Canceled) || !errors.Is(err, ErrAllFailed) {
		t.Fatalf("cancelled ctx: attempts %d err %v", attempts, err)
	}
}

func TestDialNoHealthyBackend(t *testing.T) {
	b := mustNew(t, backends(2), LeastConn, WithInitialHealth(false))
	var rd recordingDial
	_, _, attempts, err := b.Dial(context.Background(), nil, rd.dial, Failover{})
	if attempts != 0 || len(rd.addrs) != 0 || !errors.Is(err, ErrNoBackend) || !errors.Is(err, ErrAllFailed) {
		t.Fatalf("attempts %d dials %v err %v", attempts, rd.addrs, err)
	}
}

func TestDialSuccessResetsFailures(t *testing.T) {
	live, _ := serve(t, "127.0.0.1:0")
	b := mustNew(t, []BackendConfig{{Addr: live}}, RoundRobin)
	be := b.backends[0]
	b.ReportFailure(be)
	b.ReportFailure(be)
	conn, got, _, err := b.Dial(context.Background(), nil, nil, Failover{})
	if err != nil {
		t.Fatal(err)
	}
	conn.Close()
	got.Release()
	if be.fails.Load() != 0 {
		t.Fatalf("fails = %d after a successful dial", be.fails.Load())
	}
}

func TestZeroBalancer(t *testing.T) {
	var b Balancer // not built by New: must fail cleanly, not panic
	if _, err := b.Pick([]byte("k"), nil); !errors.Is(err, ErrNoBackend) {
		t.Fatalf("Pick: %v", err)
	}
	_, _, attempts, err := b.Dial(context.Background(), nil, nil, Failover{})
	if attempts != 0 || !errors.Is(err, ErrNoBackend) || !errors.Is(err, ErrAllFailed) {
		t.Fatalf("Dial: %d, %v", attempts, err)
	}
	b.ReportFailure(nil)
	b.ReportSuccess(nil)
}
