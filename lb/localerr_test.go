package lb

import (
	"context"
	"errors"
	"net"
	"os"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// emfile is the error a dial gets when this process is out of descriptors.
func emfile() error {
	return &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("socket", syscall.EMFILE)}
}

// A dial that fails for lack of local descriptors is not the backend's
// fault: nothing is reported against it, no other backend is tried (it
// would fail the same way), and the error says so.
func TestDialLocalResourceBlamesNoBackend(t *testing.T) {
	rec, events := eventRecorder(t)
	b := mustNew(t, []BackendConfig{{Addr: "127.0.0.1:1"}, {Addr: "127.0.0.1:2"}}, RoundRobin, rec)
	var dials atomic.Int32
	dial := func(ctx context.Context, addr string) (net.Conn, error) {
		dials.Add(1)
		return nil, emfile()
	}
	for range 10 { // far past the passive threshold
		_, _, attempts, err := b.Dial(context.Background(), nil, dial, Failover{})
		if !errors.Is(err, ErrLocalResource) || !errors.Is(err, ErrAllFailed) || !errors.Is(err, syscall.EMFILE) {
			t.Fatalf("Dial = %v, want ErrAllFailed joined with ErrLocalResource and EMFILE", err)
		}
		if attempts != 1 {
			t.Fatalf("Dial made %d attempts, want 1: every backend would fail the same way", attempts)
		}
	}
	for _, be := range b.backends {
		if be.fails.Load() != 0 || !be.Healthy() || be.Active() != 0 {
			t.Fatalf("backend %s: fails %d healthy %v active %d; want 0, true, 0", be.Addr, be.fails.Load(), be.Healthy(), be.Active())
		}
	}
	select {
	case ev := <-events:
		t.Fatalf("health event %+v after local errors only", ev)
	default:
	}
	// The same count of real connect failures does take a backend down:
	// the test above could fail.
	refused := func(ctx context.Context, addr string) (net.Conn, error) {
		return nil, &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	}
	for range 10 {
		b.Dial(context.Background(), nil, refused, Failover{})
	}
	if ev := waitEvent(t, events); ev.healthy {
		t.Fatalf("event %+v after refused connects, want a backend down", ev)
	}
}

// Health probes that fail for lack of local descriptors prove nothing:
// however many, the backend stays up. Probes that fail for the backend's
// own reasons then take it down.
func TestHealthProbeLocalResourceIgnored(t *testing.T) {
	rec, events := eventRecorder(t)
	b := mustNew(t, []BackendConfig{{Addr: "127.0.0.1:1"}}, RoundRobin, rec)
	var probes atomic.Int32
	var refuse atomic.Bool
	enough := make(chan struct{})
	probe := func(ctx context.Context, addr string) error {
		if refuse.Load() {
			return syscall.ECONNREFUSED
		}
		if probes.Add(1) == 10 {
			close(enough)
		}
		return emfile()
	}
	runChecks(t, b, HealthCheck{Interval: time.Millisecond, Rise: 1, Fall: 2, Probe: probe})
	<-enough
	select {
	case ev := <-events:
		t.Fatalf("health event %+v after local probe failures only", ev)
	default:
	}
	if !b.backends[0].Healthy() {
		t.Fatal("backend down after local probe failures only")
	}
	refuse.Store(true)
	if ev := waitEvent(t, events); ev.healthy {
		t.Fatalf("event %+v after refused probes, want the backend down", ev)
	}
}
