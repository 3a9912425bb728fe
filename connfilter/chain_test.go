package connfilter

import (
	"context"
	"errors"
	"slices"
	"testing"
)

// recorder is a filter that logs its checks and releases.
type recorder struct {
	name   string
	reject bool
	noRel  bool
	log    *[]string
}

func (r *recorder) Check(_ context.Context, _ *Info) (func(), error) {
	*r.log = append(*r.log, "check "+r.name)
	if r.reject {
		return nil, &RejectError{Filter: r.name, Reason: "no"}
	}
	if r.noRel {
		return nil, nil
	}
	return func() { *r.log = append(*r.log, "release "+r.name) }, nil
}

func TestChain(t *testing.T) {
	for _, tc := range []struct {
		name        string
		filters     func(log *[]string) []Filter
		wantErr     string // Filter of the expected rejection, "" for admission
		wantLog     []string
		wantRelease []string // the log after calling release (twice)
	}{
		{
			name:    "empty admits",
			filters: func(*[]string) []Filter { return nil },
		},
		{
			name: "nil filters skipped",
			filters: func(log *[]string) []Filter {
				return []Filter{nil, &recorder{name: "a", log: log}, nil}
			},
			wantLog:     []string{"check a"},
			wantRelease: []string{"check a", "release a"},
		},
		{
			name: "all admit, released latest first",
			filters: func(log *[]string) []Filter {
				return []Filter{&recorder{name: "a", log: log}, &recorder{name: "b", log: log, noRel: true}, &recorder{name: "c", log: log}}
			},
			wantLog:     []string{"check a", "check b", "check c"},
			wantRelease: []string{"check a", "check b", "check c", "release c", "release a"},
		},
		{
			name: "rejection stops and releases earlier",
			filters: func(log *[]string) []Filter {
				return []Filter{&recorder{name: "a", log: log}, &recorder{name: "b", log: log}, &recorder{name: "c", log: log, reject: true}, &recorder{name: "d", log: log}}
			},
			wantErr: "c",
			wantLog: []string{"check a", "check b", "check c", "release b", "release a"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var log []string
			rel, err := Chain(tc.filters(&log)...).Check(context.Background(), &Info{})
			if tc.wantErr != "" {
				var re *RejectError
				if !errors.As(err, &re) || re.Filter != tc.wantErr {
					t.Fatalf("err = %v, want a rejection by %s", err, tc.wantErr)
				}
				if rel != nil {
					t.Error("rejection came with a release func")
				}
			} else if err != nil {
				t.Fatalf("err = %v", err)
			}
			if !slices.Equal(log, tc.wantLog) {
				t.Fatalf("log = %q, want %q", log, tc.wantLog)
			}
			if tc.wantErr != "" {
				return
			}
			if len(tc.wantRelease) == 0 {
				if rel != nil {
					t.Fatal("got a release func with nothing to release")
				}
				return
			}
			rel()
			if !slices.Equal(log, tc.wantRelease) {
				t.Fatalf("after release log = %q, want %q", log, tc.wantRelease)
			}
		})
	}
}

func TestChainCountsBackToZero(t *testing.T) {
	mc := NewMaxConns(2)
	pip := NewMaxConnsPerIP(1)
	c := Chain(mc, pip)
	in := &Info{Client: mustAP("192.0.2.1:1")}
	rel1, err := c.Check(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	// Same client again: the per-IP filter refuses, and the global count
	// taken by MaxConns first must be given back.
	if _, err := c.Check(context.Background(), in); Reason(err) != "max_conns_per_ip" {
		t.Fatalf("second check: %v, want max_conns_per_ip", err)
	}
	if mc.Count() != 1 {
		t.Fatalf("MaxConns.Count() = %d after a rejected chain, want 1", mc.Count())
	}
	rel1()
	if mc.Count() != 0 || pip.Len() != 0 {
		t.Fatalf("after release: MaxConns %d, per-IP table %d; want 0, 0", mc.Count(), pip.Len())
	}
}
