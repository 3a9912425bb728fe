package lb

import (
	"strings"
	"testing"
	"time"
)

func TestPassiveMarkingAndCooldown(t *testing.T) {
	rec, events := eventRecorder(t)
	clk := newFakeClock()
	b := mustNew(t, backends(2), RoundRobin, rec)
	b.now = clk.Now
	a := b.backends[0]

	// Successes reset the count: fail, fail, succeed, fail, fail stays up.
	b.ReportFailure(a)
	b.ReportFailure(a)
	b.ReportSuccess(a)
	b.ReportFailure(a)
	b.ReportFailure(a)
	if !a.Healthy() {
		t.Fatal("down after 2 consecutive failures; threshold is 3")
	}
	noEvent(t, events)

	b.ReportFailure(a) // third in a row
	ev := <-events
	if ev.addr != "a" || ev.healthy || !strings.Contains(ev.reason, "passive") {
		t.Fatalf("event %+v, want a down (passive)", ev)
	}
	if a.Healthy() {
		t.Fatal("healthy after 3 consecutive failures")
	}
	for range 10 {
		if be, _ := b.Pick(nil, nil); be == a {
			t.Fatal("picked a passively failed backend")
		}
	}
	b.ReportFailure(a) // while down: no second event, no extension
	noEvent(t, events)

	clk.Advance(DefaultCooldown - time.Millisecond)
	if a.Healthy() {
		t.Fatal("healthy before the cooldown ran out")
	}
	clk.Advance(time.Millisecond)
	if !a.Healthy() {
		t.Fatal("still down after the cooldown")
	}
	if ev := <-events; ev.addr != "a" || !ev.healthy || !strings.Contains(ev.reason, "cooldown") {
		t.Fatalf("event %+v, want a up (cooldown)", ev)
	}
	a.Healthy()
	noEvent(t, events) // exactly one up event

	// Half-open: one failure after the cooldown takes it down again.
	b.ReportFailure(a)
	if ev := <-events; ev.healthy {
		t.Fatalf("event %+v, want down again", ev)
	}
	clk.Advance(DefaultCooldown)
	if be, _ := b.Pick(nil, nil); !a.Healthy() || be == nil {
		t.Fatal("not back after the second cooldown")
	}
	<-events
	// A success closes the circuit: three failures are needed again.
	b.ReportSuccess(a)
	b.ReportFailure(a)
	b.ReportFailure(a)
	if !a.Healthy() {
		t.Fatal("down after 2 failures following a success")
	}
	noEvent(t, events)
}

func TestPassiveOptions(t *testing.T) {
	clk := newFakeClock()
	b := mustNew(t, backends(1), RoundRobin, WithPassiveHealth(PassiveHealth{FailThreshold: 1, Cooldown: time.Minute}))
	b.now = clk.Now
	a := b.backends[0]
	b.ReportFailure(a)
	if a.Healthy() {
		t.Fatal("threshold 1: still healthy after a failure")
	}
	clk.Advance(59 * time.Second)
	if a.Healthy() {
		t.Fatal("cooldown 1m: healthy after 59s")
	}
	clk.Advance(time.Second)
	if !a.Healthy() {
		t.Fatal("cooldown 1m: down after 60s")
	}

	off := mustNew(t, backends(1), RoundRobin, WithPassiveHealth(PassiveHealth{FailThreshold: -1}))
	for range 100 {
		off.ReportFailure(off.backends[0])
	}
	if !off.backends[0].Healthy() {
		t.Fatal("passive marking disabled, yet the backend went down")
	}

	// Foreign and nil backends are ignored.
	b.ReportFailure(nil)
	b.ReportSuccess(nil)
	other := mustNew(t, backends(1), RoundRobin, WithPassiveHealth(PassiveHealth{FailThreshold: 1}))
	b.ReportFailure(other.backends[0])
	if !other.backends[0].Healthy() || other.backends[0].fails.Load() != 0 {
		t.Fatal("a Balancer counted a failure of another Balancer's backend")
	}
}

func TestPassiveHeldWhileActiveChecksRun(t *testing.T) {
	rec, events := eventRecorder(t)
	clk := newFakeClock()
	b := mustNew(t, backends(1), RoundRobin, rec)
	b.now = clk.Now
	a := b.backends[0]
	b.checking.Store(1) // as if RunHealthChecks were running
	for range 3 {
		b.ReportFailure(a)
	}
	<-events
	clk.Advance(time.Hour)
	if a.Healthy() {
		t.Fatal("a cooldown released a backend that active checks must bring back")
	}
	noEvent(t, events)
	b.setUp(a, "active: test")
	if ev := <-events; !ev.healthy || !a.Healthy() {
		t.Fatalf("event %+v; active check did not bring it back", ev)
	}
	if a.fails.Load() != 0 {
		t.Fatal("coming up did not reset the failure count")
	}
}
