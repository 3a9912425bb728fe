package connfilter

import (
	"context"
	"errors"
	"net/netip"
	"testing"
)

// At StageHello the built-ins pass (they judged at accept), and a
// HelloFunc judges the hello.
func TestStageHello(t *testing.T) {
	client := netip.MustParseAddrPort("192.0.2.7:4000")
	deny, err := NewCIDR(nil, []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")})
	if err != nil {
		t.Fatal(err)
	}
	perIP := NewMaxConnsPerIP(1)
	onlyKnown := HelloFunc("sni", func(h *Hello) string {
		if h.ServerName != "known.example" {
			return "sni_unknown"
		}
		return ""
	})
	f := Chain(deny, perIP, onlyKnown)
	in := &Info{Peer: client, Client: client, Stage: StageHello, Hello: &Hello{ServerName: "known.example"}}
	rel, err := f.Check(context.Background(), in)
	if err != nil {
		t.Fatalf("known name at StageHello: %v (built-ins must pass here)", err)
	}
	if rel != nil {
		rel()
	}
	in.Hello.ServerName = "other.example"
	_, err = f.Check(context.Background(), in)
	var re *RejectError
	if !errors.As(err, &re) || re.Reason != "sni_unknown" {
		t.Fatalf("unknown name: %v, want a RejectError sni_unknown", err)
	}
	if Reason(err) != "sni_unknown" {
		t.Fatalf("Reason = %q", Reason(err))
	}
	// The same chain at StageAccept: the CIDR list judges, HelloFunc passes.
	in.Stage, in.Hello = StageAccept, nil
	if _, err := f.Check(context.Background(), in); Reason(err) != "deny" {
		t.Fatalf("at accept: %v, want deny", err)
	}
}
