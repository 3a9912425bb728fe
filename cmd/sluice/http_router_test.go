package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"testing"

	"github.com/sluice-proxy/sluice/httpproxy"
	"github.com/sluice-proxy/sluice/lb"
)

// TestHTTPRouteMatch: a named host beats any host, then the longest path
// prefix wins; the port, case and a trailing dot of the host are ignored;
// no match falls back to the service's upstreams, or to nothing.
func TestHTTPRouteMatch(t *testing.T) {
	routes := []*httpRoute{
		{name: "api-v1", host: "api.example", prefix: "/v1/"},
		{name: "api", host: "api.example"},
		{name: "static", prefix: "/static/"},
		{name: "img", prefix: "/static/img/"},
		{name: "v6", host: "::1", prefix: "/"},
	}
	fallback := &httpRoute{}
	with := newHTTPRouter(routes, fallback)
	without := newHTTPRouter(routes, nil)
	for _, tc := range []struct {
		host, target string
		want         string // route name; "fallback"; "none"
	}{
		{"api.example", "/v1/users?id=1", "api-v1"},
		{"API.Example:8080", "/v1/x", "api-v1"},
		{"api.example.", "/v2/x", "api"},
		{"api.example", "/v1", "api"}, // prefixes match bytes: /v1/ does not start /v1
		{"api.example", "/static/img/a.png", "api"},
		{"www.example", "/static/img/a.png", "img"},
		{"www.example", "/static/a.css", "static"},
		{"", "/static/a.css", "static"},
		{"www.example", "/v1/users", "fallback"},
		{"api.example", "http://api.example/v1/x", "api-v1"},
		{"www.example", "http://www.example/static/x", "static"},
		{"www.example", "http://www.example?x=/static/", "fallback"},
		{"www.example", "http://www.example", "fallback"},
		{"[::1]:8080", "/anything", "v6"},
		{"[::1]", "http://[::1]", "v6"}, // no path means "/"
		{"www.example", "*", "fallback"},
		{string(make([]byte, 300)), "/x", "fallback"},
	} {
		t.Run(tc.host+" "+tc.target, func(t *testing.T) {
			name := func(rt *httpRoute) string {
				switch {
				case rt == nil:
					return "none"
				case rt == fallback:
					return "fallback"
				}
				return rt.name
			}
			if got := name(with.match([]byte(tc.host), []byte(tc.target))); got != tc.want {
				t.Errorf("match = %s, want %s", got, tc.want)
			}
			want := tc.want
			if want == "fallback" {
				want = "none"
			}
			if got := name(without.match([]byte(tc.host), []byte(tc.target))); got != want {
				t.Errorf("without fallback: match = %s, want %s", got, want)
			}
		})
	}
}

// testUpstreams builds a balancer over n made-up addresses.
func testUpstreams(t *testing.T, n int, policy lb.Policy) *httpUpstreams {
	t.Helper()
	var cfgs []lb.BackendConfig
	for i := range n {
		cfgs = append(cfgs, lb.BackendConfig{Addr: fmt.Sprintf("10.0.0.%d:80", i+1)})
	}
	bal, err := lb.New(cfgs, policy)
	if err != nil {
		t.Fatal(err)
	}
	up := &httpUpstreams{bal: bal, peers: map[*lb.Backend]*httpproxy.Peer{}, hash: policy == lb.Hash}
	for _, be := range bal.Backends() {
		up.peers[be] = &httpproxy.Peer{Addr: be.Addr}
	}
	return up
}

// TestHTTPRouterFailover drives the phases as the pipeline does: a backend
// that fails to connect is reported, excluded from the request's next
// pick, and released; once every backend has failed the last failure is
// returned; enough failures take a backend down for later requests.
func TestHTTPRouterFailover(t *testing.T) {
	ctx := context.Background()
	up := testUpstreams(t, 2, lb.RoundRobin)
	r := newHTTPRouter(nil, &httpRoute{up: up})
	backends := up.bal.Backends()
	connErr := fmt.Errorf("%w: refused", httpproxy.ErrConnect)

	for range 3 {
		s := &httpproxy.Session{Ctx: r.NewCtx()}
		s.Ctx.(*httpRequestCtx).route = r.fallback
		var seen []string
		for {
			peer, err := r.UpstreamPeer(ctx, s)
			if err != nil {
				if !errors.Is(err, httpproxy.ErrConnect) {
					t.Fatalf("after every backend failed: %v, want the last connect error", err)
				}
				break
			}
			if peer != up.peers[backends[0]] && peer != up.peers[backends[1]] {
				t.Fatalf("peer %v is not one of the pre-built peers", peer)
			}
			seen = append(seen, peer.Addr)
			if len(seen) > 2 {
				t.Fatalf("picked %v: a failed backend was picked again", seen)
			}
			next := r.FailToConnect(ctx, s, peer, connErr)
			if !httpproxy.IsRetryable(next) || !errors.Is(next, httpproxy.ErrConnect) {
				t.Fatalf("FailToConnect returned %v, want a retryable connect error", next)
			}
			s.LastError = next
		}
		if len(seen) != 2 || seen[0] == seen[1] {
			t.Fatalf("tried %v, want both backends once", seen)
		}
		r.Logging(ctx, s, s.LastError)
	}
	for _, be := range backends {
		if be.Active() != 0 {
			t.Errorf("%s: %d requests still counted in flight", be, be.Active())
		}
		if be.Healthy() {
			t.Errorf("%s: healthy after three failed connects (passive health)", be)
		}
	}
	s := &httpproxy.Session{Ctx: r.NewCtx()}
	s.Ctx.(*httpRequestCtx).route = r.fallback
	_, err := r.UpstreamPeer(ctx, s)
	if !errors.Is(err, lb.ErrNoBackend) {
		t.Fatalf("every backend down: %v, want lb.ErrNoBackend", err)
	}
	r.Logging(ctx, s, err)
}

// TestHTTPRouterSuccessResetsFailures: an answered request reports success,
// so failures that are not consecutive never take a backend down; an
// upstream timeout counts as a failure.
func TestHTTPRouterSuccessResetsFailures(t *testing.T) {
	ctx := context.Background()
	up := testUpstreams(t, 1, lb.Hash)
	r := newHTTPRouter(nil, &httpRoute{up: up})
	be := up.bal.Backends()[0]
	request := func(outcome error) {
		s := &httpproxy.Session{Ctx: r.NewCtx()}
		s.Ctx.(*httpRequestCtx).route = r.fallback
		peer, err := r.UpstreamPeer(ctx, s)
		if err != nil {
			t.Fatal(err)
		}
		if be.Active() != 1 {
			t.Fatalf("active %d during the request", be.Active())
		}
		if outcome != nil && errors.Is(outcome, httpproxy.ErrConnect) {
			s.LastError = r.FailToConnect(ctx, s, peer, outcome)
		}
		r.Logging(ctx, s, outcome)
		if be.Active() != 0 {
			t.Fatalf("active %d after the request", be.Active())
		}
	}
	timeout := fmt.Errorf("%w: read", httpproxy.ErrUpstreamTimeout)
	refused := fmt.Errorf("%w: refused", httpproxy.ErrConnect)
	for range 5 {
		request(timeout)
		request(refused)
		request(nil)
	}
	if !be.Healthy() {
		t.Fatal("down, though no three failures were consecutive")
	}
	request(timeout)
	request(refused)
	request(timeout)
	if be.Healthy() {
		t.Fatal("healthy after three consecutive failures")
	}
}

// TestProbeUpstream: the active check connects to host:port and
// unix:/path addresses, and fails where nothing listens.
func TestProbeUpstream(t *testing.T) {
	tcp, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer tcp.Close()
	sock := filepath.Join(t.TempDir(), "up.sock")
	unix, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close()
	ctx := context.Background()
	for _, tc := range []struct {
		addr string
		ok   bool
	}{
		{tcp.Addr().String(), true},
		{"unix:" + sock, true},
		{deadAddr(t), false},
		{"unix:" + sock + ".missing", false},
	} {
		if err := probeUpstream(ctx, tc.addr); (err == nil) != tc.ok {
			t.Errorf("probe %s: %v", tc.addr, err)
		}
	}
}
