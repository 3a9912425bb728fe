package lb

import (
	"context"
	"errors"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// hangGuard bounds a wait that should end promptly, so a broken health
// checker fails the test with a message instead of hanging until the
// global test timeout. It is not a timing assertion.
const hangGuard = 20 * time.Second

func waitEvent(t *testing.T, events chan healthEvent) healthEvent {
	t.Helper()
	select {
	case ev := <-events:
		return ev
	case <-time.After(hangGuard):
		t.Fatal("no health event")
		return healthEvent{}
	}
}

// runChecks starts RunHealthChecks and returns a stop that cancels it and
// waits for it to return.
func runChecks(t *testing.T, b *Balancer, hc HealthCheck) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		b.RunHealthChecks(ctx, hc)
	}()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case <-done:
		case <-time.After(hangGuard):
			t.Fatal("RunHealthChecks did not return after cancel")
		}
	}
	t.Cleanup(stop)
	return stop
}

func TestActiveChecksTCPDownAndUp(t *testing.T) {
	rec, events := eventRecorder(t)
	addr, stopServer := serve(t, "127.0.0.1:0")
	other, _ := serve(t, "127.0.0.1:0")
	b := mustNew(t, []BackendConfig{{Addr: addr}, {Addr: other}}, RoundRobin, rec)
	runChecks(t, b, HealthCheck{Interval: 10 * time.Millisecond, Rise: 2, Fall: 2})

	stopServer()
	ev := waitEvent(t, events)
	if ev.addr != addr || ev.healthy || !strings.Contains(ev.reason, "active") {
		t.Fatalf("event %+v, want %s down (active)", ev, addr)
	}
	if b.backends[0].Healthy() {
		t.Fatal("Healthy() after the down event")
	}
	for range 10 {
		if be, _ := b.Pick(nil, nil); be != b.backends[1] {
			t.Fatalf("picked %v while %s is down", be, addr)
		}
	}

	serve(t, addr) // the same port again
	ev = waitEvent(t, events)
	if ev.addr != addr || !ev.healthy {
		t.Fatalf("event %+v, want %s up", ev, addr)
	}
	if !b.backends[0].Healthy() {
		t.Fatal("not Healthy() after the up event")
	}
}

func TestActiveChecksStartDown(t *testing.T) {
	rec, events := eventRecorder(t)
	addr, _ := serve(t, "127.0.0.1:0")
	b := mustNew(t, []BackendConfig{{Addr: addr}}, RoundRobin, rec, WithInitialHealth(false))
	if _, err := b.Pick(nil, nil); !errors.Is(err, ErrNoBackend) {
		t.Fatalf("Pick before any check = %v", err)
	}
	runChecks(t, b, HealthCheck{Interval: 10 * time.Millisecond})
	if ev := waitEvent(t, events); !ev.healthy {
		t.Fatalf("event %+v, want up", ev)
	}
	if _, err := b.Pick(nil, nil); err != nil {
		t.Fatalf("Pick after the up event: %v", err)
	}
}

// scriptedProbe is a probe whose results the test feeds one at a time.
// step(err) hands err to the waiting probe and returns once the next probe
// has started, that is, once err has been fully processed: the test always
// knows where the checker is without sleeping.
type scriptedProbe struct {
	asked   chan struct{}
	results chan error
}

func newScriptedProbe() *scriptedProbe {
	return &scriptedProbe{asked: make(chan struct{}), results: make(chan error)}
}

func (s *scriptedProbe) probe(ctx context.Context, addr string) error {
	select {
	case s.asked <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-s.results:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// start waits for the first probe.
func (s *scriptedProbe) start(t *testing.T) {
	t.Helper()
	select {
	case <-s.asked:
	case <-time.After(hangGuard):
		t.Fatal("no probe started")
	}
}

func (s *scriptedProbe) step(t *testing.T, err error) {
	t.Helper()
	s.results <- err
	s.start(t)
}

// mustEvent returns the event that must already have been reported.
func mustEvent(t *testing.T, events chan healthEvent) healthEvent {
	t.Helper()
	select {
	case ev := <-events:
		return ev
	default:
		t.Fatal("expected a health event")
		return healthEvent{}
	}
}

func TestActiveChecksRiseFall(t *testing.T) {
	rec, events := eventRecorder(t)
	clk := newFakeClock()
	b := mustNew(t, backends(1), RoundRobin, rec)
	b.now = clk.Now
	a := b.backends[0]
	sp := newScriptedProbe()
	stop := runChecks(t, b, HealthCheck{Interval: time.Millisecond, Timeout: time.Hour, Rise: 3, Fall: 2, Probe: sp.probe})
	fail := errors.New("probe failed")
	sp.start(t)

	// A success between failures resets the count.
	sp.step(t, fail)
	sp.step(t, nil)
	sp.step(t, fail)
	noEvent(t, events) // 1 failure in a row, Fall is 2
	sp.step(t, fail)
	if ev := mustEvent(t, events); ev.healthy || !strings.Contains(ev.reason, "2 consecutive failed probes: probe failed") {
		t.Fatalf("event %+v, want down after Fall=2", ev)
	}
	if a.Healthy() {
		t.Fatal("Healthy after Fall")
	}
	sp.step(t, fail)
	noEvent(t, events) // already down: no second event

	sp.step(t, nil)
	sp.step(t, nil)
	noEvent(t, events) // 2 successes, Rise is 3
	sp.step(t, nil)
	if ev := mustEvent(t, events); !ev.healthy {
		t.Fatalf("event %+v, want up after Rise=3", ev)
	}
	if !a.Healthy() {
		t.Fatal("not Healthy after Rise")
	}

	// Passive failures while checks run: down until the next successful
	// probe (successes have already reached Rise).
	for range DefaultFailThreshold {
		b.ReportFailure(a)
	}
	if ev := mustEvent(t, events); ev.healthy || !strings.Contains(ev.reason, "passive") {
		t.Fatalf("event %+v, want passive down", ev)
	}
	clk.Advance(time.Hour)
	if a.Healthy() {
		t.Fatal("cooldown released a backend held for active checks")
	}
	sp.step(t, nil)
	if ev := mustEvent(t, events); !ev.healthy || !strings.Contains(ev.reason, "active") {
		t.Fatalf("event %+v, want up by an active check", ev)
	}

	// A second RunHealthChecks while this one runs returns at once.
	b.RunHealthChecks(context.Background(), HealthCheck{})

	// Take it down, stop the checks: it falls back to a passive cooldown.
	sp.step(t, fail)
	sp.step(t, fail)
	if ev := mustEvent(t, events); ev.healthy {
		t.Fatalf("event %+v, want down", ev)
	}
	stop()
	if a.Healthy() {
		t.Fatal("healthy right after checks stopped")
	}
	clk.Advance(DefaultCooldown)
	if !a.Healthy() {
		t.Fatal("still held down a cooldown after the checks stopped")
	}
	if ev := waitEvent(t, events); !ev.healthy {
		t.Fatalf("event %+v, want up", ev)
	}
}

// The default probe checks unix:/path backends too: a socket nobody
// listens on goes down, and comes up once something listens there.
func TestActiveChecksUnixUpstream(t *testing.T) {
	path := filepath.Join(t.TempDir(), "up.sock")
	rec, events := eventRecorder(t)
	b := mustNew(t, []BackendConfig{{Addr: "unix:" + path}}, RoundRobin, rec)
	runChecks(t, b, HealthCheck{Interval: 10 * time.Millisecond, Rise: 1, Fall: 1})
	if ev := waitEvent(t, events); ev.healthy {
		t.Fatalf("event %+v, want the unix backend down while nothing listens", ev)
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	if ev := waitEvent(t, events); !ev.healthy {
		t.Fatalf("event %+v, want the unix backend up once it listens", ev)
	}
}

// Probed is false until every backend has had an active probe's verdict,
// success or failure.
func TestProbedAfterFirstVerdicts(t *testing.T) {
	b, err := New([]BackendConfig{{Addr: "a:1"}, {Addr: "b:1"}}, RoundRobin)
	if err != nil {
		t.Fatal(err)
	}
	if b.Probed() {
		t.Fatal("Probed before any probe")
	}
	verdicts := make(chan string, 16)
	probe := func(_ context.Context, addr string) error {
		defer func() {
			select {
			case verdicts <- addr:
			default: // the test has seen enough
			}
		}()
		if addr == "b:1" {
			return errors.New("refused")
		}
		return nil
	}
	stop := runChecks(t, b, HealthCheck{Interval: time.Millisecond, Timeout: time.Hour, Probe: probe})
	defer stop()
	// A verdict is recorded after its probe returns, so a backend's first
	// is in once its second probe has started.
	seen := map[string]int{}
	for seen["a:1"] < 2 || seen["b:1"] < 2 {
		select {
		case a := <-verdicts:
			seen[a]++
		case <-time.After(hangGuard):
			t.Fatal("no probes")
		}
	}
	if !b.Probed() {
		t.Fatal("not Probed after both backends' first verdicts")
	}
}

// InheritHealth carries a backend's state by address into a rebuilt
// balancer: held stays held (not picked), up stays up, and a backend the
// old one did not have starts up.
func TestInheritHealth(t *testing.T) {
	old, err := New([]BackendConfig{{Addr: "a:1"}, {Addr: "b:1"}}, RoundRobin)
	if err != nil {
		t.Fatal(err)
	}
	old.setHeld(old.backends[1], "test")
	old.backends[0].probed.Store(true)
	b, err := New([]BackendConfig{{Addr: "b:1"}, {Addr: "a:1"}, {Addr: "c:1"}}, RoundRobin)
	if err != nil {
		t.Fatal(err)
	}
	b.InheritHealth(old)
	if got := []bool{b.backends[0].Healthy(), b.backends[1].Healthy(), b.backends[2].Healthy()}; got[0] || !got[1] || !got[2] {
		t.Fatalf("healthy b, a, c = %v, want false, true, true", got)
	}
	if !b.backends[1].probed.Load() || b.backends[0].probed.Load() {
		t.Fatal("probed verdicts not carried by address")
	}
	for range 10 {
		if be, err := b.Pick(nil, nil); err != nil || be.Addr == "b:1" {
			t.Fatalf("picked %v, %v: a held backend was picked after the rebuild", be, err)
		}
	}
}
