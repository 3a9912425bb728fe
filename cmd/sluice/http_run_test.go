package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// origin is an in-process HTTP server that answers "NAME PATH X-Proxy=...
// X-Route=... XFF=...".
func origin(t *testing.T, name string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s %s X-Proxy=%s X-Route=%s XFF=%s", name, r.URL.Path, r.Header.Get("X-Proxy"), r.Header.Get("X-Route"), r.Header.Get("X-Forwarded-For"))
	}))
	t.Cleanup(srv.Close)
	return srv
}

// deadAddr returns a loopback address nothing listens on.
func deadAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// get sends a GET for target with host through the proxy at addr and
// returns the status and body.
func get(t *testing.T, c *http.Client, addr, host, target string) (int, string) {
	t.Helper()
	req, err := http.NewRequest("GET", "http://"+addr+target, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// TestHTTPServiceEndToEnd runs an http: config in-process in front of real
// origins: round robin alternates, a route takes its host and prefix to its
// own upstream with the configured headers, a dead upstream is failed over
// and marked down, a service without upstreams of its own answers 404 to
// what no route matches, and the metrics endpoint counts it all.
func TestHTTPServiceEndToEnd(t *testing.T) {
	a1, a2, api := origin(t, "A"), origin(t, "B"), origin(t, "API")
	// stuck never answers until the test ends.
	unstick := make(chan struct{})
	stuck := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-unstick }))
	defer stuck.Close()
	defer close(unstick)
	// The dead port is taken last: a listener made after it could be given
	// the port it just freed (which made this test flaky).
	dead := deadAddr(t)
	yaml := fmt.Sprintf(`metrics: {listen: "127.0.0.1:0"}
log: {level: error}
http:
  - name: web
    listen: ["127.0.0.1:0"]
    upstreams: [{addr: %[1]q}, {addr: %[2]q}]
    balance: round_robin
    routes:
      - {host: "api.example", path_prefix: "/v1/", upstreams: [{addr: %[3]q}], set_request_headers: {X-Route: api}}
    set_request_headers: {X-Proxy: sluice}
    timeouts: {connect: 5s, header_read: 10s, idle: 60s}
  - name: failover
    listen: ["127.0.0.1:0"]
    upstreams: [{addr: %[4]q}, {addr: %[1]q}]
    x_forwarded_for: true
  - name: no-retries
    listen: ["127.0.0.1:0"]
    upstreams: [{addr: %[4]q}, {addr: %[1]q}]
    max_retries: 0
    poller: go
  - name: slow
    listen: ["127.0.0.1:0"]
    upstreams: [{addr: %[5]q}]
    timeouts: {upstream_read: 50ms}
  - name: routed-only
    listen: ["127.0.0.1:0"]
    routes: [{name: api, path_prefix: /api/, upstreams: [{addr: %[3]q}]}]
`, a1.Listener.Addr(), a2.Listener.Addr(), api.Listener.Addr(), dead, stuck.Listener.Addr())
	cfg, err := parseConfig("h.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan *app, 1)
	done := make(chan error, 1)
	go func() { done <- run(ctx, cfg, io.Discard, io.Discard, func(a *app) { ready <- a }) }()
	a := <-ready
	stop := sync.OnceValue(func() error { cancel(); return <-done })
	defer stop()
	web := a.addrOf("http", 0)
	failover := a.addrOf("http", 1)
	routed := a.addrOf("http", 4)
	noRetries := a.addrOf("http", 2)
	slow := a.addrOf("http", 3)
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr}

	t.Run("round robin alternates", func(t *testing.T) {
		var names []string
		for range 6 {
			code, body := get(t, c, web, "www.example", "/page")
			if code != 200 {
				t.Fatalf("status %d: %s", code, body)
			}
			if !strings.HasSuffix(body, " /page X-Proxy=sluice X-Route= XFF=") {
				t.Fatalf("body %q: want the path and X-Proxy set, no X-Route or X-Forwarded-For", body)
			}
			names = append(names, strings.Fields(body)[0])
		}
		for i := 1; i < len(names); i++ {
			if names[i] == names[i-1] {
				t.Fatalf("origins %v: round robin did not alternate", names)
			}
		}
	})
	t.Run("route", func(t *testing.T) {
		for _, host := range []string{"api.example", "API.example:8080"} {
			code, body := get(t, c, web, host, "/v1/users")
			if code != 200 || body != "API /v1/users X-Proxy=sluice X-Route=api XFF=" {
				t.Fatalf("Host %s: %d %q", host, code, body)
			}
		}
		// Another path on that host is not the route's.
		if _, body := get(t, c, web, "api.example", "/v2/users"); strings.HasPrefix(body, "API") {
			t.Fatalf("/v2/ went to the route's upstream: %q", body)
		}
	})
	t.Run("dead upstream fails over", func(t *testing.T) {
		for i := range 6 {
			code, body := get(t, c, failover, "x", fmt.Sprintf("/%d", i))
			if code != 200 || !strings.HasPrefix(body, "A /") || !strings.HasSuffix(body, " XFF=127.0.0.1") {
				t.Fatalf("request %d: %d %q, want origin A, with X-Forwarded-For", i, code, body)
			}
		}
	})
	t.Run("no route 404", func(t *testing.T) {
		if code, body := get(t, c, routed, "x", "/api/v"); code != 200 || !strings.HasPrefix(body, "API /api/v") {
			t.Fatalf("routed: %d %q", code, body)
		}
		if code, body := get(t, c, routed, "x", "/other"); code != 404 || !strings.Contains(body, "no route") {
			t.Fatalf("unrouted: %d %q, want 404", code, body)
		}
	})
	t.Run("max_retries 0", func(t *testing.T) {
		// Round robin starts with the first upstream, which is dead.
		if code, body := get(t, c, noRetries, "x", "/"); code != 502 || !strings.Contains(body, "could not connect") {
			t.Fatalf("%d %q, want 502 without failover", code, body)
		}
		if code, body := get(t, c, noRetries, "x", "/"); code != 200 || !strings.HasPrefix(body, "A /") {
			t.Fatalf("%d %q, want the next request on origin A", code, body)
		}
	})
	t.Run("upstream_read timeout", func(t *testing.T) {
		if code, body := get(t, c, slow, "x", "/"); code != 504 {
			t.Fatalf("%d %q, want 504", code, body)
		}
	})
	// The endpoint serves the http series; their counts are read once
	// the services have stopped, since a request is counted after its
	// response has been sent.
	resp, err := http.Get("http://" + a.metricsL.Addr().String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(b), "sluice_http_requests_total{") {
		t.Errorf("the metrics endpoint lacks sluice_http_requests_total:\n%s", grepLines(string(b), "sluice_"))
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	got := gatherLines(t, a)
	for _, want := range []string{
		`sluice_http_requests_total{code="2xx",route="",service="web"} 7`,
		`sluice_http_requests_total{code="2xx",route="api.example/v1/",service="web"} 2`,
		`sluice_http_requests_total{code="2xx",route="",service="failover"} 6`,
		`sluice_http_requests_total{code="4xx",route="",service="routed-only"} 1`,
		`sluice_http_requests_total{code="2xx",route="api",service="routed-only"} 1`,
		fmt.Sprintf(`sluice_http_upstream_connect_errors_total{kind="connect",service="failover",upstream=%q} 3`, dead),
		fmt.Sprintf(`sluice_http_upstream_healthy{route="",service="failover",upstream=%q} 0`, dead),
		fmt.Sprintf(`sluice_http_upstream_healthy{route="",service="failover",upstream=%q} 1`, a1.Listener.Addr()),
	} {
		if !strings.Contains(got, want+"\n") {
			t.Errorf("metrics lack %s:\n%s", want, grepLines(got, "sluice_http_"))
		}
	}
}

// gatherLines returns a's counters and gauges as "name{labels} value"
// lines, labels in name order as in the exposition format.
func gatherLines(t *testing.T, a *app) string {
	t.Helper()
	mfs, err := a.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			var v float64
			switch {
			case m.GetCounter() != nil:
				v = m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				v = m.GetGauge().GetValue()
			default:
				continue
			}
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			fmt.Fprintf(&b, "%s{%s} %s\n", mf.GetName(), strings.Join(labels, ","), strconv.FormatFloat(v, 'g', -1, 64))
		}
	}
	return b.String()
}

// TestHTTPServiceDrains: cancelling run (what SIGTERM does) stops
// accepting, lets the request in flight finish with Connection: close, and
// returns only then.
func TestHTTPServiceDrains(t *testing.T) {
	entered := make(chan struct{})
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-release
		io.WriteString(w, "finished")
	}))
	defer slow.Close()
	yaml := fmt.Sprintf("log: {level: info, access_log: false}\nshutdown: {grace: 30s}\nhttp:\n  - name: web\n    listen: [\"127.0.0.1:0\"]\n    upstreams: [{addr: %q}]\n", slow.Listener.Addr())
	cfg, err := parseConfig("d.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	logs := newLineCounter("shutting down")
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan *app, 1)
	done := make(chan error, 1)
	go func() { done <- run(ctx, cfg, io.Discard, logs, func(a *app) { ready <- a }) }()
	a := <-ready
	addr := a.addrOf("http", 0)

	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	io.WriteString(conn, "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
	<-entered
	cancel()
	logs.await(t, 1)
	// Wait for the listener to close: new connections are refused while
	// the request in flight goes on.
	for deadline := time.Now().Add(10 * time.Second); ; {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("still accepting after shutdown began")
		}
	}
	select {
	case err := <-done:
		t.Fatalf("run returned (%v) with a request in flight", err)
	default:
	}
	close(release)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("in-flight request: %v\n%s", err, logs)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || string(body) != "finished" || resp.StatusCode != 200 {
		t.Fatalf("in-flight request: %d %q %v", resp.StatusCode, body, err)
	}
	if !resp.Close {
		t.Error("a response sent while draining lacks Connection: close")
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
