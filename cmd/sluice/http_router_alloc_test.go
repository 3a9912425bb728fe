//go:build !race

package main

import (
	"context"
	"net"
	"testing"

	"github.com/sluice-proxy/sluice/httpproxy"
	"github.com/sluice-proxy/sluice/lb"
	"github.com/sluice-proxy/sluice/protocols/http1"
	"github.com/sluice-proxy/sluice/vstream"
)

// TestHTTPRouterAllocatesNothing: in steady state, routing a request,
// picking its backend (hashed on the client IP) and setting its headers
// allocate nothing. (Not under -race, which makes sync.Pool
// drop values at random.)
func TestHTTPRouterAllocatesNothing(t *testing.T) {
	ctx := context.Background()
	up := testUpstreams(t, 3, lb.Hash)
	routes := []*httpRoute{{name: "api", host: "api.example", prefix: "/v1/", up: up,
		headers: []HeaderField{{"X-Proxy", "sluice"}, {"X-Route", "api"}}}}
	r := newHTTPRouter(routes, &httpRoute{up: testUpstreams(t, 2, lb.RoundRobin)})
	req := &http1.Request{Method: []byte("GET"), Target: []byte("/v1/users"), Host: []byte("API.example:8080")}
	d := &vstream.Digest{RemoteAddr: &net.TCPAddr{IP: net.IPv4(192, 0, 2, 7), Port: 4000}}
	var upReq http1.Request
	s := &httpproxy.Session{Request: req, Digest: d}
	var failed error
	run := func() {
		if handled, err := r.RequestFilter(ctx, s); handled || err != nil {
			failed = err
			return
		}
		peer, err := r.UpstreamPeer(ctx, s)
		if err != nil {
			failed = err
			return
		}
		upReq.Header.Reset()
		if err := r.UpstreamRequestFilter(ctx, s, &upReq); err != nil {
			failed = err
			return
		}
		_ = peer
	}
	run()
	if allocs := testing.AllocsPerRun(1000, run); allocs != 0 {
		t.Errorf("%v allocations per request", allocs)
	}
	if failed != nil {
		t.Fatal(failed)
	}
	if s.Route != "api" || string(upReq.Header.Get("X-Route")) != "api" || string(upReq.Header.Get("X-Proxy")) != "sluice" {
		t.Fatalf("route %q, upstream header %v", s.Route, upReq.Header.Fields())
	}
}
