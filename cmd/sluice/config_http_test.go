package main

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sluice-proxy/sluice/httpproxy"
)

const goodHTTPConfig = `http:
  - name: web
    listen: ["127.0.0.1:8005"]
    upstreams: [{addr: "127.0.0.1:8000"}]
    balance: round_robin
    routes: [{host: "api.example", path_prefix: "/v1/", upstreams: [{addr: "127.0.0.1:8001"}]}]
    set_request_headers: {X-Proxy: sluice}
    timeouts: {connect: 5s, header_read: 10s, idle: 60s}
`

// TestHTTPConfigParses: the http: section of the issue, verbatim, and the
// defaults it gets.
func TestHTTPConfigParses(t *testing.T) {
	cfg, err := parseConfig("x.yaml", []byte(goodHTTPConfig))
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.HTTP) != 1 {
		t.Fatalf("%d http services", len(cfg.HTTP))
	}
	h := cfg.HTTP[0]
	if h.Name != "web" || h.Listen[0].String() != "127.0.0.1:8005" || h.Upstreams[0].Addr.Address != "127.0.0.1:8000" ||
		h.Upstreams[0].Weight != 1 || h.Balance != "round_robin" || !h.AccessLog || !h.NoDelay {
		t.Fatalf("parsed %+v", h)
	}
	wantTO := httpproxy.Timeouts{
		Connect: 5 * time.Second, HeaderRead: 10 * time.Second, Idle: 60 * time.Second,
		BodyRead: httpproxy.DefaultBodyReadTimeout, Write: httpproxy.DefaultWriteTimeout,
		UpstreamRead: httpproxy.DefaultUpstreamTimeout, UpstreamWrite: httpproxy.DefaultWriteTimeout,
	}
	if h.Timeouts != wantTO {
		t.Errorf("timeouts %+v, want %+v", h.Timeouts, wantTO)
	}
	if h.MaxRetries != httpproxy.DefaultMaxRetries {
		t.Errorf("max_retries %d", h.MaxRetries)
	}
	if want := []HeaderField{{"X-Proxy", "sluice"}}; !reflect.DeepEqual(h.SetRequestHeaders, want) {
		t.Errorf("headers %v", h.SetRequestHeaders)
	}
	r := h.Routes[0]
	if r.Name != "api.example/v1/" || r.Host != "api.example" || r.PathPrefix != "/v1/" || r.Balance != "round_robin" ||
		r.Upstreams[0].Addr.Address != "127.0.0.1:8001" {
		t.Fatalf("route %+v", r)
	}
	if want := []HeaderField{{"X-Proxy", "sluice"}}; !reflect.DeepEqual(r.SetRequestHeaders, want) {
		t.Errorf("route headers %v: the service's apply to its routes", r.SetRequestHeaders)
	}
}

// TestHTTPConfigDetails: the parts of an http: section beyond the basics.
func TestHTTPConfigDetails(t *testing.T) {
	cfg, err := parseConfig("x.yaml", []byte(`log: {access_log: false}
http:
  - name: web
    listen: ["127.0.0.1:8005", "unix:/tmp/web.sock"]
    upstreams: [{addr: "127.0.0.1:8000", weight: 3}, {addr: "unix:/tmp/origin.sock"}]
    balance: hash
    max_retries: 0
    x_forwarded_for: true
    forwarded: true
    set_request_headers: {X-Proxy: sluice, X-Env: prod}
    routes:
      - {host: "API.Example.", set_request_headers: {x-proxy: api, X-Route: api}}
      - {name: static, path_prefix: /static/, upstreams: [{addr: "127.0.0.1:8002"}], balance: least_conn}
      - {host: "[::1]", path_prefix: /}
    timeouts: {upstream_read: 30s, write: 1m, body_read: 5s, upstream_write: 2s}
    filter: {allow: ["127.0.0.0/8"], max_conns_per_ip: 10}
    health: {interval: 1s, timeout: 500ms}
    socket: {reuse_port: true, keepalive: 30s}
  - name: web2
    listen: ["127.0.0.1:8006"]
    access_log: true
    max_retries: 5
    routes: [{path_prefix: /, upstreams: [{addr: "127.0.0.1:8000"}]}]
`))
	if err != nil {
		t.Fatal(err)
	}
	h := cfg.HTTP[0]
	if h.MaxRetries != -1 || !h.XForwardedFor || !h.Forwarded || h.AccessLog || h.Balance != "hash" {
		t.Errorf("service %+v", h)
	}
	if h.Upstreams[0].Weight != 3 || h.Upstreams[1].Addr.Network != "unix" || h.Upstreams[1].Addr.Address != "/tmp/origin.sock" {
		t.Errorf("upstreams %+v", h.Upstreams)
	}
	if h.Listen[1].Network != "unix" {
		t.Errorf("listen %+v", h.Listen)
	}
	if h.Timeouts.UpstreamRead != 30*time.Second || h.Timeouts.Write != time.Minute || h.Timeouts.BodyRead != 5*time.Second ||
		h.Timeouts.UpstreamWrite != 2*time.Second || h.Timeouts.Connect != httpproxy.DefaultConnectTimeout {
		t.Errorf("timeouts %+v", h.Timeouts)
	}
	if len(h.Allow) != 1 || h.MaxConnsPerIP != 10 || h.Health == nil || h.Health.Interval != time.Second ||
		!h.ReusePort || h.KeepAlive != 30*time.Second {
		t.Errorf("filter/health/socket %+v", h)
	}
	api, static, v6 := h.Routes[0], h.Routes[1], h.Routes[2]
	if api.Name != "api.example" || api.Host != "api.example" || api.PathPrefix != "" || api.Upstreams != nil || api.Balance != "hash" {
		t.Errorf("api route %+v", api)
	}
	// The service's fields, sorted, then the route's, which win.
	if want := []HeaderField{{"X-Env", "prod"}, {"X-Route", "api"}, {"x-proxy", "api"}}; !reflect.DeepEqual(api.SetRequestHeaders, want) {
		t.Errorf("api headers %v, want %v", api.SetRequestHeaders, want)
	}
	if static.Name != "static" || static.Balance != "least_conn" || len(static.Upstreams) != 1 {
		t.Errorf("static route %+v", static)
	}
	if v6.Host != "::1" || v6.Name != "::1/" {
		t.Errorf("v6 route %+v", v6)
	}
	h2 := cfg.HTTP[1]
	if !h2.AccessLog || h2.MaxRetries != 5 || len(h2.Upstreams) != 0 {
		t.Errorf("web2 %+v", h2)
	}
}

// TestHTTPConfigErrors: each fault names its file, line and key.
func TestHTTPConfigErrors(t *testing.T) {
	const head = "http:\n  - name: a\n    listen: [\"127.0.0.1:1\"]\n" // lines 1-3
	const up = "    upstreams: [{addr: \"127.0.0.1:2\"}]\n"            // line 4 when it follows head
	for _, tc := range []struct {
		name string
		yaml string
		want string
	}{
		{"bad duration", head + up + "    timeouts:\n      header_read: soon\n", `x.yaml:6: http[0].timeouts.header_read: invalid duration "soon"`},
		{"zero duration", head + up + "    timeouts: {idle: 0s}\n", "x.yaml:5: http[0].timeouts.idle: must be positive"},
		{"unknown key", head + up + "    routes:\n      - {host: a.example, pathprefix: /x}\n", "x.yaml:6: http[0].routes[0].pathprefix: unknown key"},
		{"unknown service key", head + up + "    timeout: {connect: 1s}\n", "x.yaml:5: http[0].timeout: unknown key"},
		{"route without upstreams", head + "    routes:\n      - host: a.example\n", "x.yaml:5: http[0].routes[0].upstreams: required: the service has no upstreams"},
		{"no upstreams no routes", head, "x.yaml:2: http[0].upstreams: at least one upstream is required"},
		{"bad balance", head + up + "    balance: fastest\n", `x.yaml:5: http[0].balance: unknown policy "fastest"`},
		{"bad poller", head + up + "    poller: io_uring\n", `x.yaml:5: http[0].poller: unknown poller "io_uring" (own, go)`},
		{"bad route balance", head + up + "    routes:\n      - path_prefix: /x\n        upstreams: [{addr: \"127.0.0.1:3\"}]\n        balance: sticky\n", "x.yaml:8: http[0].routes[0].balance: unknown policy"},
		{"route balance without upstreams", head + up + "    routes:\n      - path_prefix: /x\n        balance: random\n", "x.yaml:7: http[0].routes[0].balance: a route without upstreams"},
		{"bad header name", head + up + "    set_request_headers:\n      \"X Proxy\": sluice\n", `x.yaml:6: http[0].set_request_headers.X Proxy: invalid header name "X Proxy"`},
		{"bad route header name", head + up + "    routes:\n      - path_prefix: /x\n        set_request_headers: {\"X:Y\": z}\n", `x.yaml:7: http[0].routes[0].set_request_headers.X:Y: invalid header name`},
		{"managed header", head + up + "    set_request_headers: {Content-Length: \"5\"}\n", "x.yaml:5: http[0].set_request_headers.Content-Length: Content-Length is managed by the proxy"},
		{"header set twice", head + up + "    set_request_headers: {X-A: \"1\", x-a: \"2\"}\n", "x.yaml:5: http[0].set_request_headers.x-a: header x-a is also set as X-A"},
		{"bad header value", head + up + "    set_request_headers: {X-A: \"a\\r\\nX-B: b\"}\n", "x.yaml:5: http[0].set_request_headers.X-A: invalid header value"},
		{"route host with port", head + up + "    routes: [{host: \"a.example:8080\"}]\n", `x.yaml:5: http[0].routes[0].host: host "a.example:8080" must not include a port`},
		{"route host with scheme", head + up + "    routes: [{host: \"http://a.example\"}]\n", "x.yaml:5: http[0].routes[0].host: invalid host"},
		{"route path without slash", head + up + "    routes: [{path_prefix: v1/}]\n", "x.yaml:5: http[0].routes[0].path_prefix: must start with /"},
		{"route path with query", head + up + "    routes: [{path_prefix: \"/v1?x\"}]\n", "x.yaml:5: http[0].routes[0].path_prefix: must be a path"},
		{"route matching nothing", head + up + "    routes:\n      - name: r\n", "x.yaml:6: http[0].routes[0]: a route needs a host"},
		{"duplicate route name", head + up + "    routes:\n      - {name: r, path_prefix: /a}\n      - {name: r, path_prefix: /b}\n", `x.yaml:7: http[0].routes[1].name: duplicate route name "r"`},
		{"duplicate route match", head + up + "    routes:\n      - {name: r, path_prefix: /a}\n      - {name: s, path_prefix: /a}\n", "x.yaml:7: http[0].routes[1]: another route has the same host and path_prefix"},
		{"bad route upstream", head + up + "    routes:\n      - path_prefix: /a\n        upstreams: [{addr: \"nowhere\"}]\n", "x.yaml:7: http[0].routes[0].upstreams[0].addr: invalid address"},
		{"bad weight", head + "    upstreams: [{addr: \"127.0.0.1:2\", weight: 1001}]\n", "x.yaml:4: http[0].upstreams[0].weight: must be between 1 and 1000"},
		{"bad max_retries", head + up + "    max_retries: -1\n", "x.yaml:5: http[0].max_retries: must be between 0 and 100"},
		{"bad filter", head + up + "    filter: {deny: [\"300.0.0.1\"]}\n", "x.yaml:5: http[0].filter.deny[0]: invalid CIDR"},
		{"bad socket", head + up + "    socket: {backlog: -1}\n", "x.yaml:5: http[0].socket.backlog: must not be negative"},
		{"bad health", head + up + "    health: {interval: 1s, timeout: 2s}\n", "x.yaml:5: http[0].health.timeout"},
		{"missing name", "http:\n  - listen: [\"127.0.0.1:1\"]\n" + up, "x.yaml:2: http[0].name: required"},
		{"no listen", "http:\n  - name: a\n" + up, "x.yaml:2: http[0].listen: at least one address"},
		{"listen taken by tcp", "tcp:\n  - name: t\n    listen: [\"127.0.0.1:1\"]\n    upstreams: [{addr: \"127.0.0.1:2\"}]\n" + strings.Replace(head, "name: a", "name: h", 1) + up, "x.yaml:7: http[0].listen[0]: address 127.0.0.1:1 is already used"},
		{"name taken by tcp", "tcp:\n  - name: a\n    listen: [\"127.0.0.1:9\"]\n    upstreams: [{addr: \"127.0.0.1:2\"}]\n" + head + up, `x.yaml:6: http[0].name: duplicate service name "a"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseConfig("x.yaml", []byte(tc.yaml))
			if err == nil {
				t.Fatalf("accepted:\n%s", tc.yaml)
			}
			if !errors.Is(err, ErrConfig) {
				t.Errorf("error %v does not match ErrConfig", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q\nwant it to contain %q", err, tc.want)
			}
		})
	}
}

// TestCheckHTTP: `sluice check` validates http: sections and counts them.
func TestCheckHTTP(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(good, []byte(goodHTTPConfig), 0o600)
	os.WriteFile(bad, []byte(strings.Replace(goodHTTPConfig, "X-Proxy: sluice", "X-Proxy: sluice, \"Bad Name\": x", 1)), 0o600)
	var out, errb strings.Builder
	if code := runMain([]string{"check", "-c", good}, &out, &errb); code != 0 {
		t.Fatalf("check good: exit %d: %s", code, errb.String())
	}
	if want := "ok (0 tcp, 0 udp, 1 http services)"; !strings.Contains(out.String(), want) {
		t.Errorf("stdout %q, want %q", out.String(), want)
	}
	if code := runMain([]string{"check", "-c", bad}, &out, &errb); code != 1 {
		t.Fatalf("check bad: exit %d", code)
	}
	if want := `bad.yaml:7: http[0].set_request_headers.Bad Name: invalid header name "Bad Name"`; !strings.Contains(errb.String(), want) {
		t.Fatalf("stderr %q, want %q", errb.String(), want)
	}
}
