package main

import (
	"bytes"
	"context"
	"slices"
	"testing"

	"github.com/sluice-proxy/sluice/httpproxy"
)

// TestDemo runs the demo: requests alternate between the two origins, each
// of which sees the Host the load balancer set.
func TestDemo(t *testing.T) {
	var out bytes.Buffer
	if err := runDemo(context.Background(), &out); err != nil {
		t.Fatal(err)
	}
	want := `GET /0 -> 200 OK origin 1, Host: one.one.one.one
GET /1 -> 200 OK origin 2, Host: one.one.one.one
GET /2 -> 200 OK origin 1, Host: one.one.one.one
GET /3 -> 200 OK origin 2, Host: one.one.one.one
`
	if out.String() != want {
		t.Fatalf("demo printed:\n%s\nwant:\n%s", out.String(), want)
	}
}

// TestPeersAreLongLived: UpstreamPeer hands out the same Peer for a
// backend every time, round robin.
func TestPeersAreLongLived(t *testing.T) {
	p, err := NewLB("h", "127.0.0.1:1", "127.0.0.1:2")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	first, _ := p.UpstreamPeer(context.Background(), &httpproxy.Session{})
	for range 4 {
		peer, err := p.UpstreamPeer(context.Background(), &httpproxy.Session{}) // a request each
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, peer.Addr)
		if peer.Addr == first.Addr && peer != first {
			t.Fatal("a new Peer for the same backend")
		}
	}
	if want := []string{"127.0.0.1:2", "127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:1"}; !slices.Equal(got, want) {
		t.Fatalf("picked %v, want %v", got, want)
	}
}
