package main

import (
	"fmt"
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

// testUpstreams builds a balancer over n made-up addresses. (Failover,
// passive health and least_conn counts are httpproxy.Balanced's, tested
// through the pipeline in package httpproxy.)
func testUpstreams(t *testing.T, n int, policy lb.Policy) *httpproxy.Balanced {
	t.Helper()
	var cfgs []lb.BackendConfig
	for i := range n {
		cfgs = append(cfgs, lb.BackendConfig{Addr: fmt.Sprintf("10.0.0.%d:80", i+1)})
	}
	bal, err := lb.New(cfgs, policy)
	if err != nil {
		t.Fatal(err)
	}
	return httpproxy.NewBalanced(bal, nil)
}
