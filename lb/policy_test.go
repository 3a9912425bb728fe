package lb

import (
	"errors"
	"testing"
)

func TestParsePolicy(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Policy
		ok   bool
	}{
		{"round_robin", RoundRobin, true},
		{"Round-Robin", RoundRobin, true},
		{"random", Random, true},
		{" least_conn ", LeastConn, true},
		{"least-conn", LeastConn, true},
		{"HASH", Hash, true},
		{"", "", false},
		{"roundrobin", "", false},
		{"ketama\x00", "", false},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParsePolicy(tc.in)
			if tc.ok != (err == nil) || got != tc.want {
				t.Fatalf("ParsePolicy(%q) = %q, %v", tc.in, got, err)
			}
			if err != nil && !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("error %v does not wrap ErrInvalidConfig", err)
			}
		})
	}
}

func TestNewValidation(t *testing.T) {
	for _, tc := range []struct {
		name   string
		cfg    []BackendConfig
		policy Policy
	}{
		{"empty list", nil, RoundRobin},
		{"empty addr", []BackendConfig{{Addr: ""}}, RoundRobin},
		{"negative weight", []BackendConfig{{Addr: "a", Weight: -1}}, RoundRobin},
		{"weight too big", []BackendConfig{{Addr: "a", Weight: MaxWeight + 1}}, Hash},
		{"duplicate addr", []BackendConfig{{Addr: "a"}, {Addr: "b"}, {Addr: "a"}}, RoundRobin},
		{"unknown policy", []BackendConfig{{Addr: "a"}}, "fastest"},
		{"unnormalised policy", []BackendConfig{{Addr: "a"}}, "Round_Robin"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := New(tc.cfg, tc.policy)
			if err == nil || b != nil {
				t.Fatalf("New = %v, %v; want error", b, err)
			}
			if !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("error %v does not wrap ErrInvalidConfig", err)
			}
		})
	}
}

func TestNewDefaults(t *testing.T) {
	b := mustNew(t, []BackendConfig{{Addr: "a"}, {Addr: "b", Weight: 7}}, "")
	if b.Policy() != RoundRobin {
		t.Errorf("default policy = %q", b.Policy())
	}
	bs := b.Backends()
	if len(bs) != 2 || bs[0].Addr != "a" || bs[0].Weight != 1 || bs[1].Weight != 7 {
		t.Fatalf("Backends = %v", bs)
	}
	for _, be := range bs {
		if !be.Healthy() || be.Active() != 0 {
			t.Errorf("%s: healthy=%v active=%d at start", be, be.Healthy(), be.Active())
		}
	}
	bs[0] = nil // a copy: must not affect the balancer
	if b.Backends()[0] == nil {
		t.Fatal("Backends returned the internal slice")
	}

	down := mustNew(t, backends(2), RoundRobin, WithInitialHealth(false))
	for _, be := range down.Backends() {
		if be.Healthy() {
			t.Errorf("%s healthy despite WithInitialHealth(false)", be)
		}
	}
	if _, err := down.Pick(nil, nil); !errors.Is(err, ErrNoBackend) {
		t.Fatalf("Pick with all down = %v, want ErrNoBackend", err)
	}
}

func TestAcquireRelease(t *testing.T) {
	be := mustNew(t, backends(1), LeastConn).Backends()[0]
	be.Acquire()
	be.Acquire()
	be.Release()
	if be.Active() != 1 {
		t.Fatalf("Active = %d, want 1", be.Active())
	}
	be.Release()
	be.Release() // unmatched
	if be.Active() != 0 {
		t.Fatalf("Active after unmatched Release = %d, want 0", be.Active())
	}
}
