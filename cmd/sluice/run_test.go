package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sluice-proxy/sluice/internal/promtest"
	"github.com/sluice-proxy/sluice/protocols/vmux"
)

// TestMain lets the test binary stand in for the sluice binary: with
// SLUICE_TEST_MAIN set it runs main, so lifecycle tests send real signals to
// a real process without a separate build.
func TestMain(m *testing.M) {
	if os.Getenv("SLUICE_TEST_MAIN") == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

func echoServer(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go serveEcho(l, &wg)
	t.Cleanup(func() { l.Close(); wg.Wait() })
	return l.Addr().String()
}

func roundTrip(t *testing.T, c net.Conn, msg string) {
	t.Helper()
	if _, err := c.Write([]byte(msg)); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, len(msg))
	if _, err := io.ReadFull(c, b); err != nil {
		t.Fatal(err)
	}
	if string(b) != msg {
		t.Fatalf("echo %q, want %q", b, msg)
	}
}

// TestRunServesAndDrains runs a config in-process: the forwarder relays, the
// metrics endpoint reports it, and cancelling drains and returns.
func TestRunServesAndDrains(t *testing.T) {
	up := echoServer(t)
	yaml := fmt.Sprintf(`metrics: {listen: "127.0.0.1:0"}
log: {level: error}
tcp:
  - name: fwd
    listen: ["127.0.0.1:0"]
    upstreams: [{addr: %q}]
    filter: {allow: ["127.0.0.0/8"], max_conns_per_ip: 10}
`, up)
	cfg, err := parseConfig("t.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan *app, 1)
	done := make(chan error, 1)
	go func() { done <- run(ctx, cfg, io.Discard, io.Discard, func(a *app) { ready <- a }) }()
	a := <-ready
	c, err := net.Dial("tcp", a.addrOf("tcp", 0))
	if err != nil {
		t.Fatal(err)
	}
	roundTrip(t, c, "hello through sluice")
	resp, err := http.Get("http://" + a.metricsL.Addr().String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), `sluice_tcp_connections_total{service="fwd"} 1`) {
		t.Fatalf("metrics lack the connection:\n%s", grepLines(string(body), "sluice_"))
	}
	cancel()
	roundTrip(t, c, "still open while draining")
	c.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestDemoRuns starts the embedded demo on free ports and echoes through it.
func TestDemoRuns(t *testing.T) {
	cfg, err := parseConfig("demo.yaml", demoYAML)
	if err != nil {
		t.Fatal(err)
	}
	cfg.TCP[0].Listen[0].Address = "127.0.0.1:0"
	cfg.TCP[0].Upstreams[0].Addr.Address = "127.0.0.1:0"
	cfg.Metrics.Listen = "127.0.0.1:0"
	cfg.UDP[0].Listen[0] = "127.0.0.1:0"
	cfg.UDP[0].Upstreams[0].Addr.Address = "127.0.0.1:0"
	cfg.HTTP[0].Listen[0].Address = "127.0.0.1:0"
	for i := range cfg.HTTP[0].Upstreams {
		cfg.HTTP[0].Upstreams[i].Addr.Address = "127.0.0.1:0"
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan *app, 1)
	done := make(chan error, 1)
	var out strings.Builder
	go func() { done <- serveDemo(ctx, cfg, &out, io.Discard, func(a *app) { ready <- a }) }()
	a := <-ready
	c, err := net.Dial("tcp", a.addrOf("tcp", 0))
	if err != nil {
		t.Fatal(err)
	}
	roundTrip(t, c, "demo")
	c.Close()
	u, err := net.Dial("udp", a.addrOf("udp", 0))
	if err != nil {
		t.Fatal(err)
	}
	roundTrip(t, u, "udp demo")
	u.Close()
	// The HTTP load balancer takes turns between the two origins.
	tr := &http.Transport{}
	web := "http://" + a.addrOf("http", 0) + "/"
	got := map[string]int{}
	for range 4 {
		resp, err := (&http.Client{Transport: tr}).Get(web)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		got[string(b)]++
	}
	tr.CloseIdleConnections()
	if got["hello from origin A\n"] != 2 || got["hello from origin B\n"] != 2 {
		t.Errorf("4 requests through the demo's HTTP load balancer got %v, want each origin twice", got)
	}
	// The HTTPS listener, with the certificate made at start: the banner's
	// curl line names the CA file and the address.
	m := regexp.MustCompile(`curl -s --cacert (\S+) https://(\S+)/`).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("demo banner lacks the HTTPS curl line:\n%s", out.String())
	}
	caPEM, err := os.ReadFile(m[1])
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	htr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
	resp, err := (&http.Client{Transport: htr}).Get("https://" + m[2] + "/")
	if err != nil {
		t.Fatalf("HTTPS through the demo: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	htr.CloseIdleConnections()
	if !strings.HasPrefix(string(body), "hello from origin") {
		t.Errorf("HTTPS through the demo got %q", body)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"TCP forwarder", "UDP forwarder", "HTTP load balancer", "HTTP origin B", "metrics", "try:", "curl -s http://"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("demo banner lacks %q:\n%s", want, out.String())
		}
	}
}

var listeningRE = regexp.MustCompile(`msg=listening service=forward addr=(\S+)`)

// TestSIGTERMDrainsAndExitsZero runs `sluice forward` as a real process:
// SIGTERM stops accepting, the open connection keeps working until the
// client closes it, and the process exits 0.
func TestSIGTERMDrainsAndExitsZero(t *testing.T) {
	up := echoServer(t)
	p := startForward(t, up)
	c, err := net.Dial("tcp", p.addr)
	if err != nil {
		t.Fatal(err)
	}
	roundTrip(t, c, "before")
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	roundTrip(t, c, "after SIGTERM")
	c.Close()
	l, err := p.wait()
	if err != nil {
		t.Fatalf("exit: %v\n%s", err, l)
	}
	if !strings.Contains(l, "connection closed") {
		t.Errorf("no access-log line:\n%s", l)
	}
}

// TestForwardUDP runs `sluice forward -udp` in-process and echoes a
// datagram through it.
func TestForwardUDP(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go serveUDPEcho(pc, &wg)
	defer func() { pc.Close(); wg.Wait() }()
	yaml := fmt.Sprintf("log: {level: error}\nudp:\n  - name: u\n    listen: [\"127.0.0.1:0\"]\n    upstreams: [{addr: %q}]\n", pc.LocalAddr())
	cfg, err := parseConfig("u.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.UDP[0].Balance != "hash" || cfg.UDP[0].IdleTimeout != 30*time.Second {
		t.Fatalf("udp defaults: %+v", cfg.UDP[0])
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan *app, 1)
	done := make(chan error, 1)
	go func() { done <- run(ctx, cfg, io.Discard, io.Discard, func(a *app) { ready <- a }) }()
	a := <-ready
	c, err := net.Dial("udp", a.addrOf("udp", 0))
	if err != nil {
		t.Fatal(err)
	}
	roundTrip(t, c, "datagram")
	c.Close()
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestVmuxListener: a vmux client opens several streams over one connection
// to a `protocol: vmux` service; each is forwarded to the TCP upstream like a
// connection, with half-close carried across.
func TestVmuxListener(t *testing.T) {
	up := echoServer(t)
	yaml := fmt.Sprintf("log: {level: error}\ntcp:\n  - name: vm\n    protocol: vmux\n    listen: [\"127.0.0.1:0\"]\n    upstreams: [{addr: %q}]\n", up)
	cfg, err := parseConfig("v.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan *app, 1)
	done := make(chan error, 1)
	go func() { done <- run(ctx, cfg, io.Discard, io.Discard, func(a *app) { ready <- a }) }()
	a := <-ready
	conn, err := net.Dial("tcp", a.addrOf("tcp", 0))
	if err != nil {
		t.Fatal(err)
	}
	sess := vmux.Client(conn, vmux.Config{})
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st, err := sess.Open(context.Background())
			if err != nil {
				t.Error(err)
				return
			}
			defer st.Close()
			msg := strings.Repeat(fmt.Sprint(i), 100_000)
			go func() {
				st.Write([]byte(msg))
				st.CloseWrite() // half-close: the upstream echo sees EOF and closes
			}()
			got, err := io.ReadAll(st)
			if err != nil {
				t.Error(err)
			}
			if string(got) != msg {
				t.Errorf("stream %d: got %d bytes back, want %d", i, len(got), len(msg))
			}
		}()
	}
	wg.Wait()
	sess.Close()

	// A peer that sends garbage ends only its own session, counted.
	bad, err := net.Dial("tcp", a.addrOf("tcp", 0))
	if err != nil {
		t.Fatal(err)
	}
	bad.Write([]byte("\xff\xff\xff\xffGET / HTTP/1.1\r\n\r\n"))
	io.Copy(io.Discard, bad) // the server closes the session
	bad.Close()
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// Serve has returned, so every session's OnClose has counted it.
	if n := promtest.Sum(t, a.reg, "sluice_vmux_sessions_closed_total", "service", "vm"); n != 2 {
		t.Errorf("sluice_vmux_sessions_closed_total{service=vm} = %v, want both sessions counted", n)
	}
	if n := promtest.Sum(t, a.reg, "sluice_vmux_sessions_closed_total", "service", "vm", "reason", "protocol"); n != 1 {
		t.Errorf("sluice_vmux_sessions_closed_total{reason=protocol} = %v, want the garbage session", n)
	}
}

// TestVmuxHandshakeTimeout: the vmux: section reaches the sessions. A peer
// that connects and sends nothing is ended by the server once the
// configured handshake_timeout (200ms) runs out: the test waits for the
// server to close the connection (EOF) and finds the session counted with
// reason handshake_timeout. The client's read deadline is no timing
// assertion but a guard set at half of vmux's default (10s): were the
// section not applied, the read would fail there instead of waiting out
// the default.
func TestVmuxHandshakeTimeout(t *testing.T) {
	up := echoServer(t)
	yaml := fmt.Sprintf("log: {level: error}\ntcp:\n  - name: vm\n    protocol: vmux\n    listen: [\"127.0.0.1:0\"]\n    upstreams: [{addr: %q}]\n    vmux: {handshake_timeout: 200ms}\n", up)
	cfg, err := parseConfig("v.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan *app, 1)
	done := make(chan error, 1)
	go func() { done <- run(ctx, cfg, io.Discard, io.Discard, func(a *app) { ready <- a }) }()
	a := <-ready
	conn, err := net.Dial("tcp", a.addrOf("tcp", 0))
	if err != nil {
		t.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(vmux.DefaultHandshakeTimeout / 2))
	_, err = io.Copy(io.Discard, conn) // the server's HELLO and GOAWAY, then EOF
	conn.Close()
	if err != nil {
		t.Errorf("silent peer: %v, want the server to end the session within handshake_timeout", err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// Serve has returned, so the session's OnClose has counted it.
	if n := promtest.Sum(t, a.reg, "sluice_vmux_sessions_closed_total", "service", "vm", "reason", "handshake_timeout"); n != 1 {
		t.Errorf("sluice_vmux_sessions_closed_total{reason=handshake_timeout} = %v, want the silent session", n)
	}
}
