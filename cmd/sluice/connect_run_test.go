package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	xh2 "golang.org/x/net/http2"

	"github.com/sluice-proxy/sluice/internal/testcert"
	"github.com/sluice-proxy/sluice/protocols/vmux"
)

// TestConnectThroughTheBinary: an http service with connect: tunnels an
// allowed CONNECT, refuses another with 403, and in pipeline mode serves
// the tunnel's inside as a connection of its own.
func TestConnectThroughTheBinary(t *testing.T) {
	echo := echoServer(t)
	app := runYAML(t, fmt.Sprintf(`http:
  - name: fwd
    listen: ["127.0.0.1:0"]
    upstreams: [{addr: %[1]q}]
    connect: {allow: [%[1]q]}
  - name: pipe
    listen: ["127.0.0.1:0"]
    upstreams: [{addr: %[2]q}]
    connect: {allow: ["app.internal:80"], mode: pipeline}
`, echo, origin(t, "P").Listener.Addr().String()), io.Discard)
	c, err := net.Dial("tcp", app.addrOf("http", 0))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(hangGuard))
	fmt.Fprintf(c, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n", echo, echo)
	br := bufio.NewReader(c)
	if resp, err := http.ReadResponse(br, &http.Request{Method: "CONNECT"}); err != nil || resp.StatusCode != 200 {
		t.Fatalf("CONNECT: %v %v", resp, err)
	}
	fmt.Fprint(c, "through")
	got := make([]byte, len("through"))
	if _, err := io.ReadFull(br, got); err != nil || string(got) != "through" {
		t.Fatalf("through the tunnel: %q %v", got, err)
	}
	c2 := rawRequest(t, app.addrOf("http", 0), "CONNECT 127.0.0.1:1 HTTP/1.1\r\nHost: x\r\n\r\n")
	if resp, err := http.ReadResponse(bufio.NewReader(c2), &http.Request{Method: "CONNECT"}); err != nil || resp.StatusCode != 403 {
		t.Fatalf("CONNECT outside allow: %v %v", resp, err)
	}
	c3 := rawRequest(t, app.addrOf("http", 1), "CONNECT app.internal:80 HTTP/1.1\r\nHost: app.internal:80\r\n\r\nGET /in HTTP/1.1\r\nHost: app.internal\r\n\r\n")
	br3 := bufio.NewReader(c3)
	if resp, err := http.ReadResponse(br3, &http.Request{Method: "CONNECT"}); err != nil || resp.StatusCode != 200 {
		t.Fatalf("pipeline CONNECT: %v %v", resp, err)
	}
	resp, err := http.ReadResponse(br3, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !strings.HasPrefix(string(b), "P /in") {
		t.Fatalf("inner request: %d %q", resp.StatusCode, b)
	}
}

// TestConnectConfigErrors: connect: faults name the key and line.
func TestConnectConfigErrors(t *testing.T) {
	head := "http:\n  - name: a\n    listen: [\"127.0.0.1:1\"]\n    upstreams: [{addr: \"127.0.0.1:2\"}]\n"
	for _, tc := range []struct{ yaml, want string }{
		{head + "    connect: {mode: tunnel}\n", "x.yaml:5: http[0].connect.allow: at least one target"},
		{head + "    connect: {allow: [\"a.*.example:443\"]}\n", `http[0].connect.allow[0]: invalid target "a.*.example:443"`},
		{head + "    connect: {allow: [\"a.example\"]}\n", `http[0].connect.allow[0]: invalid target "a.example"`},
		{head + "    connect: {allow: [\"a.example:443\"], mode: socks}\n", `http[0].connect.mode: unknown mode "socks"`},
	} {
		if _, err := parseConfig("x.yaml", []byte(tc.yaml)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("error %v, want it to contain %q", err, tc.want)
		}
	}
}

// TestHTTPOverVmux: an http service with protocol: vmux serves each stream
// of a vmux session as an HTTP connection, through the same routes.
func TestHTTPOverVmux(t *testing.T) {
	app := runYAML(t, fmt.Sprintf(`http:
  - name: vm
    protocol: vmux
    listen: ["127.0.0.1:0"]
    upstreams: [{addr: %q}]
`, origin(t, "V").Listener.Addr().String()), io.Discard)
	conn, err := net.Dial("tcp", app.addrOf("http", 0))
	if err != nil {
		t.Fatal(err)
	}
	sess := vmux.Client(conn, vmux.Config{})
	defer sess.Close()
	for i := range 3 {
		st, err := sess.Open(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		st.SetDeadline(time.Now().Add(hangGuard))
		fmt.Fprintf(st, "GET /s%d HTTP/1.1\r\nHost: x\r\n\r\n", i)
		resp, err := http.ReadResponse(bufio.NewReader(st), nil)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		st.Close()
		if resp.StatusCode != 200 || !strings.HasPrefix(string(b), fmt.Sprintf("V /s%d", i)) {
			t.Fatalf("stream %d: %d %q", i, resp.StatusCode, b)
		}
	}
}

// TestMirrorThroughTheBinary: a route's mirror: sends a copy of its
// requests to the shadow upstream, whose answer nobody waits for.
func TestMirrorThroughTheBinary(t *testing.T) {
	copies := make(chan string, 4)
	hold := make(chan struct{})
	defer close(hold)
	shadow := httptestServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		copies <- r.URL.Path
		<-hold // the client must not wait for this
	}))
	app := runYAML(t, fmt.Sprintf(`http:
  - name: web
    listen: ["127.0.0.1:0"]
    upstreams: [{addr: %q}]
    routes:
      - path_prefix: /api/
        mirror: {upstreams: [{addr: %q}], percent: 100}
`, origin(t, "M").Listener.Addr().String(), shadow), io.Discard)
	c := &http.Client{Transport: &http.Transport{}}
	if status, body := get(t, c, app.addrOf("http", 0), "x", "/api/v1"); status != 200 || !strings.HasPrefix(body, "M /api/v1") {
		t.Fatalf("mirrored route: %d %q", status, body)
	}
	select {
	case p := <-copies:
		if p != "/api/v1" {
			t.Fatalf("the shadow got %q", p)
		}
	case <-time.After(hangGuard):
		t.Fatal("no copy reached the shadow")
	}
	if _, err := parseConfig("x.yaml", []byte("http:\n  - name: a\n    listen: [\"127.0.0.1:1\"]\n    upstreams: [{addr: \"127.0.0.1:2\"}]\n    routes: [{path_prefix: /a/, mirror: {upstreams: [{addr: \"127.0.0.1:3\"}], percent: 0}}]\n")); err == nil || !strings.Contains(err.Error(), "http[0].routes[0].mirror.percent: must be above 0") {
		t.Fatalf("mirror percent 0: %v", err)
	}
}

// httptestServer serves h on 127.0.0.1:0 until the test ends.
func httptestServer(t *testing.T, h http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// TestConnectPipelineInnerProtocols: a cleartext service takes CONNECT in
// pipeline mode and serves the tunnel's inside: TLS with connect.tls's
// certificate then HTTP/1.1, and h2c; each inner request gets the service's
// set_request_headers and is logged with the outer client's address.
func TestConnectPipelineInnerProtocols(t *testing.T) {
	ca, err := testcert.NewCA(t.TempDir(), "ca")
	if err != nil {
		t.Fatal(err)
	}
	pair, err := ca.Server("app.internal")
	if err != nil {
		t.Fatal(err)
	}
	logs := newLineCounter("msg=\"http request\"")
	app := runYAML(t, fmt.Sprintf(`http:
  - name: pipe
    listen: ["127.0.0.1:0"]
    h2c: true
    upstreams: [{addr: %q}]
    set_request_headers: {X-Proxy: inner}
    connect: {allow: ["app.internal:443"], mode: pipeline, tls: {certificates: [{cert: %q, key: %q}]}}
`, origin(t, "I").Listener.Addr().String(), pair.CertFile, pair.KeyFile), logs)
	open := func() (net.Conn, *bufio.Reader) {
		c := rawRequest(t, app.addrOf("http", 0), "CONNECT app.internal:443 HTTP/1.1\r\nHost: app.internal:443\r\n\r\n")
		br := bufio.NewReader(c)
		if resp, err := http.ReadResponse(br, &http.Request{Method: "CONNECT"}); err != nil || resp.StatusCode != 200 {
			t.Fatalf("CONNECT: %v %v", resp, err)
		}
		return c, br
	}
	// TLS inside, then HTTP/1.1.
	c1, _ := open()
	tc := tls.Client(c1, &tls.Config{RootCAs: ca.Pool, ServerName: "app.internal"})
	fmt.Fprint(tc, "GET /inner-tls HTTP/1.1\r\nHost: app.internal\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(tc), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<10))
	if !strings.HasPrefix(string(b), "I /inner-tls X-Proxy=inner") {
		t.Fatalf("inner TLS request: %d %q", resp.StatusCode, b)
	}
	// h2c inside.
	c2, _ := open()
	cc, err := (&xh2.Transport{AllowHTTP: true}).NewClientConn(c2)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("GET", "http://app.internal/inner-h2c", nil)
	resp, err = cc.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(resp.Body)
	if resp.ProtoMajor != 2 || !strings.HasPrefix(string(b), "I /inner-h2c X-Proxy=inner") {
		t.Fatalf("inner h2c request: %s %q", resp.Proto, b)
	}
	logs.await(t, 2)
	for _, c := range []net.Conn{c1, c2} {
		if !strings.Contains(logs.String(), "client="+c.LocalAddr().String()) {
			t.Errorf("no inner request logged with the outer client %s:\n%s", c.LocalAddr(), logs.String())
		}
	}
}
