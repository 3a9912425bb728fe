package connfilter

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"testing"
)

func TestStageString(t *testing.T) {
	for _, tc := range []struct {
		s    Stage
		want string
	}{{StageAccept, "accept"}, {StageProxy, "proxy"}, {Stage(9), "Stage(9)"}} {
		if got := tc.s.String(); got != tc.want {
			t.Errorf("Stage(%d).String() = %q, want %q", tc.s, got, tc.want)
		}
	}
}

func TestClientKnown(t *testing.T) {
	for _, tc := range []struct {
		stage    Stage
		awaiting bool
		want     bool
	}{
		{StageAccept, false, true},
		{StageAccept, true, false},
		{StageProxy, false, true},
		{StageProxy, true, true},
	} {
		t.Run(fmt.Sprintf("%v/awaiting=%v", tc.stage, tc.awaiting), func(t *testing.T) {
			in := Info{Stage: tc.stage, AwaitingProxy: tc.awaiting}
			if got := in.ClientKnown(); got != tc.want {
				t.Errorf("ClientKnown() = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestClientIPUnmapsAndDropsZone(t *testing.T) {
	for _, tc := range []struct {
		client string
		want   string
	}{
		{"[::ffff:10.1.2.3]:80", "10.1.2.3"},
		{"10.1.2.3:80", "10.1.2.3"},
		{"[fe80::1%eth0]:80", "fe80::1"},
	} {
		in := Info{Client: netip.MustParseAddrPort(tc.client)}
		ip, ok := in.clientIP()
		if !ok || ip != netip.MustParseAddr(tc.want) {
			t.Errorf("clientIP(%s) = %v, %v; want %s, true", tc.client, ip, ok, tc.want)
		}
	}
	var in Info
	if _, ok := in.clientIP(); ok {
		t.Error("clientIP of a zero Client reported ok")
	}
}

func TestRejectErrorAndReason(t *testing.T) {
	re := &RejectError{Filter: "cidr", Reason: "deny", Client: netip.MustParseAddr("192.0.2.1")}
	if got, want := re.Error(), "connfilter: cidr rejected 192.0.2.1: deny"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	noAddr := &RejectError{Filter: "x", Reason: "y"}
	if got, want := noAddr.Error(), "connfilter: x rejected connection: y"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	wrapped := fmt.Errorf("accept: %w", re)
	var got *RejectError
	if !errors.As(wrapped, &got) || got != re {
		t.Error("errors.As does not find a wrapped *RejectError")
	}
	for _, tc := range []struct {
		err  error
		want string
	}{{nil, ""}, {wrapped, "deny"}, {errors.New("boom"), "error"}} {
		if r := Reason(tc.err); r != tc.want {
			t.Errorf("Reason(%v) = %q, want %q", tc.err, r, tc.want)
		}
	}
}

func TestFuncAdapter(t *testing.T) {
	called := 0
	f := Func(func(ctx context.Context, in *Info) (func(), error) {
		called++
		if in.Listener != "l" {
			t.Errorf("Listener = %q", in.Listener)
		}
		return nil, nil
	})
	if _, err := f.Check(context.Background(), &Info{Listener: "l"}); err != nil || called != 1 {
		t.Fatalf("Check: err %v, called %d", err, called)
	}
}
