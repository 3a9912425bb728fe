package main

import (
	"fmt"
	"io"
	"net"
	"path/filepath"
	"sync"
	"testing"

	"github.com/sluice-proxy/sluice/internal/promtest"
)

// TestTCPUnixUpstream: a tcp service whose upstream is unix:/path, with
// default settings and active health checks, relays, and its upstream is
// checked healthy. Before the address rule had one owner, the service's
// dialer refused Unix upstreams ("DisableNoDelay, KeepAlive and FastOpen
// apply to TCP only") and every connection failed.
func TestTCPUnixUpstream(t *testing.T) {
	path := filepath.Join(t.TempDir(), "echo.sock")
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go serveEcho(l, &wg)
	defer func() { l.Close(); wg.Wait() }()
	a := runYAML(t, fmt.Sprintf(`log: {level: error}
tcp:
  - name: fwd
    listen: ["127.0.0.1:0"]
    upstreams: [{addr: "unix:%s"}]
    health: {interval: 100ms, timeout: 50ms, rise: 1, fall: 1}
`, path), io.Discard)
	c, err := net.Dial("tcp", a.addrOf("tcp", 0))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	roundTrip(t, c, "through a unix upstream")
	if v := promtest.Sum(t, a.reg, "sluice_upstream_healthy", "service", "fwd"); v != 1 {
		t.Errorf("sluice_upstream_healthy = %v, want 1", v)
	}
}
