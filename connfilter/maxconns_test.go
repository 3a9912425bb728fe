package connfilter

import (
	"context"
	"fmt"
	"net/netip"
	"testing"
)

func TestMaxConns(t *testing.T) {
	ctx := context.Background()
	m := NewMaxConns(2)
	in := &Info{Client: mustAP("192.0.2.1:1")}
	r1, err := m.Check(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	// Global: a different client counts against the same limit, and
	// AwaitingProxy does not matter at StageAccept.
	r2, err := m.Check(ctx, &Info{Client: mustAP("198.51.100.1:1"), AwaitingProxy: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Check(ctx, in); Reason(err) != "max_conns" {
		t.Fatalf("third conn: err = %v, want max_conns", err)
	}
	if m.Count() != 2 {
		t.Fatalf("Count() = %d after a refusal, want 2", m.Count())
	}
	// StageProxy is not counted.
	if rel, err := m.Check(ctx, &Info{Stage: StageProxy, Client: mustAP("192.0.2.9:1")}); err != nil || rel != nil {
		t.Fatalf("StageProxy: rel %v, err %v; want nil, nil", rel != nil, err)
	}
	r1()
	r3, err := m.Check(ctx, in)
	if err != nil {
		t.Fatalf("after a release: %v", err)
	}
	r2()
	r3()
	if m.Count() != 0 {
		t.Fatalf("Count() = %d after all releases, want 0", m.Count())
	}
}

func TestMaxConnsNoLimit(t *testing.T) {
	m := NewMaxConns(0)
	var rels []func()
	for range 100 {
		rel, err := m.Check(context.Background(), &Info{})
		if err != nil {
			t.Fatal(err)
		}
		rels = append(rels, rel)
	}
	if m.Count() != 100 {
		t.Fatalf("Count() = %d, want 100", m.Count())
	}
	for _, r := range rels {
		r()
	}
	if m.Count() != 0 {
		t.Fatalf("Count() = %d, want 0", m.Count())
	}
}

func TestMaxConnsPerIP(t *testing.T) {
	ctx := context.Background()
	m := NewMaxConnsPerIP(2)
	a := &Info{Client: mustAP("192.0.2.1:1")}
	aMapped := &Info{Client: mustAP("[::ffff:192.0.2.1]:2")}
	b := &Info{Client: mustAP("[2001:db8::1]:1")}
	ra1, err := m.Check(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	ra2, err := m.Check(ctx, aMapped) // the same client, written mapped
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Check(ctx, a); Reason(err) != "max_conns_per_ip" {
		t.Fatalf("third from a: err = %v, want max_conns_per_ip", err)
	}
	rb, err := m.Check(ctx, b)
	if err != nil {
		t.Fatalf("b is limited by a's count: %v", err)
	}
	if got := m.Count(netip.MustParseAddr("::ffff:192.0.2.1")); got != 2 {
		t.Fatalf("Count(a) = %d, want 2", got)
	}
	if m.Len() != 2 {
		t.Fatalf("Len() = %d, want 2", m.Len())
	}
	ra1()
	rb()
	if m.Len() != 1 {
		t.Fatalf("Len() = %d after b closed, want 1 (b's entry removed)", m.Len())
	}
	ra2()
	if m.Len() != 0 || m.Count(a.Client.Addr()) != 0 {
		t.Fatalf("Len() = %d after all closed, want 0", m.Len())
	}
}

func TestMaxConnsPerIPStages(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name    string
		in      Info
		counted bool
	}{
		{"accept, direct", Info{Client: mustAP("192.0.2.1:1")}, true},
		{"accept, awaiting proxy", Info{Client: mustAP("192.0.2.1:1"), AwaitingProxy: true}, false},
		{"proxy", Info{Client: mustAP("192.0.2.1:1"), Stage: StageProxy, AwaitingProxy: true}, true},
		{"no IP", Info{}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := NewMaxConnsPerIP(1)
			rel, err := m.Check(ctx, &tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if (rel != nil) != tc.counted || (m.Len() == 1) != tc.counted {
				t.Fatalf("counted: release %v, Len %d; want %v", rel != nil, m.Len(), tc.counted)
			}
			if rel != nil {
				rel()
			}
			if m.Len() != 0 {
				t.Fatalf("Len() = %d, want 0", m.Len())
			}
		})
	}
}

// TestMaxConnsPerIPTableShrinks opens and closes connections from many
// addresses: the table must end empty, not keep one entry per address seen.
func TestMaxConnsPerIPTableShrinks(t *testing.T) {
	m := NewMaxConnsPerIP(1)
	for i := range 10000 {
		in := Info{Client: netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), 1)}
		rel, err := m.Check(context.Background(), &in)
		if err != nil {
			t.Fatal(err)
		}
		rel()
	}
	if m.Len() != 0 {
		t.Fatalf("Len() = %d, want 0", m.Len())
	}
}

func TestMaxConnsPerIPNoLimit(t *testing.T) {
	m := NewMaxConnsPerIP(-1)
	in := &Info{Client: mustAP("192.0.2.1:1")}
	var rels []func()
	for i := range 50 {
		rel, err := m.Check(context.Background(), in)
		if err != nil {
			t.Fatal(fmt.Sprint(i, err))
		}
		rels = append(rels, rel)
	}
	for _, r := range rels {
		r()
	}
	if m.Len() != 0 {
		t.Fatalf("Len() = %d, want 0", m.Len())
	}
}
