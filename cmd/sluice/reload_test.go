package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/sluice-proxy/sluice/internal/promtest"
)

// greeter is a TCP upstream that writes name and a newline, then echoes.
func greeter(t *testing.T, name string) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				fmt.Fprintln(c, name)
				io.Copy(c, c)
			}()
		}
	}()
	return l.Addr().String()
}

// runFile runs the config in path as `sluice run -c path` does, until
// the test ends.
func runFile(t *testing.T, path string) *app {
	a, _ := runFileStop(t, path, io.Discard)
	return a
}

// runFileStop is runFile with a stop that ends the run before the test
// does (and waits for it).
func runFileStop(t *testing.T, path string, logs io.Writer) (*app, func()) {
	t.Helper()
	cfg, err := loadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	return runConfig(t, cfg, logs)
}

// postReload asks the admin listener to reload and returns its answer.
func postReload(t *testing.T, admin string) (int, string) {
	t.Helper()
	resp, err := http.Post("http://"+admin+"/-/reload", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestReloadUnderLoad: five reloads that swap an http service's upstream
// and route and a tcp service's upstream, under continuous keep-alive HTTP requests and a
// loop of new TCP connections: no request fails and no connection is
// refused or reset; after each reload new requests reach the new
// upstream; a TCP connection opened before the reloads keeps its upstream
// throughout; the unchanged udp service keeps forwarding. An invalid config
// and a port clash are refused with the error, and the running config
// stays.
func TestReloadUnderLoad(t *testing.T) {
	httpUps := []string{origin(t, "A").Listener.Addr().String(), origin(t, "B").Listener.Addr().String()}
	tcpUps := []string{greeter(t, "one"), greeter(t, "two")}
	udpUp := udpEchoServer(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "sluice.yaml")
	conf := func(i int) string {
		return fmt.Sprintf(`log: {level: error}
metrics: {listen: "127.0.0.1:0"}
shutdown: {grace: 60s}
tcp:
  - name: fw
    listen: ["127.0.0.1:0"]
    upstreams: [{addr: %q}]
udp:
  - name: dns
    listen: ["127.0.0.1:0"]
    upstreams: [{addr: %q}]
http:
  - name: web
    listen: ["127.0.0.1:0"]
    upstreams: [{addr: %q}]
    routes: [{path_prefix: "/r%d/", upstreams: [{addr: %q}]}]
`, tcpUps[i%2], udpUp, httpUps[i%2], i, httpUps[(i+1)%2])
	}
	write := func(s string) {
		if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(conf(0))
	a := runFile(t, path)
	webAddr, fwAddr, dnsAddr := a.addrOf("http", 0), a.addrOf("tcp", 0), a.addrOf("udp", 0)
	admin := a.metricsL.Addr().String()

	// A connection opened before any reload, kept throughout.
	long, err := net.Dial("tcp", fwAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer long.Close()
	longR := bufio.NewReader(long)
	long.SetDeadline(time.Now().Add(hangGuard))
	if l, _ := longR.ReadString('\n'); l != "one\n" {
		t.Fatalf("long-lived connection greeted %q", l)
	}

	// The load: keep-alive HTTP requests and new TCP connections, each
	// failure recorded.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var httpOK, tcpOK atomic.Int64
	var failures sync.Map
	fail := func(what string, err error) { failures.Store(fmt.Sprintf("%s: %v", what, err), true) }
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}, Timeout: hangGuard}
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				resp, err := client.Get("http://" + webAddr + "/")
				if err != nil {
					fail("http", err)
					continue
				}
				b, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil || resp.StatusCode != 200 {
					fail("http", fmt.Errorf("%d %q %v", resp.StatusCode, b, err))
					continue
				}
				httpOK.Add(1)
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			c, err := net.Dial("tcp", fwAddr)
			if err != nil {
				fail("tcp dial", err)
				continue
			}
			c.SetDeadline(time.Now().Add(hangGuard))
			r := bufio.NewReader(c)
			if _, err := r.ReadString('\n'); err != nil {
				fail("tcp greeting", err)
			} else if _, err := c.Write([]byte("ping\n")); err != nil {
				fail("tcp write", err)
			} else if l, err := r.ReadString('\n'); err != nil || l != "ping\n" {
				fail("tcp echo", fmt.Errorf("%q %v", l, err))
			} else {
				tcpOK.Add(1)
			}
			c.Close()
		}
	}()

	for i := 1; i <= 5; i++ {
		write(conf(i))
		if code, body := postReload(t, admin); code != 200 {
			t.Fatalf("reload %d: %d %q", i, code, body)
		}
		want := []string{"A", "B"}[i%2]
		fresh := &http.Client{Transport: &http.Transport{}}
		if _, body := get(t, fresh, webAddr, "x", "/"); !strings.HasPrefix(body, want+" ") {
			t.Fatalf("after reload %d a new connection got %q, want upstream %s", i, body, want)
		}
		// The route of this config, not the last one's.
		other := []string{"B", "A"}[i%2]
		if _, body := get(t, fresh, webAddr, "x", fmt.Sprintf("/r%d/x", i)); !strings.HasPrefix(body, other+" ") {
			t.Fatalf("after reload %d its route /r%d/ got %q, want upstream %s", i, i, body, other)
		}
		if _, body := get(t, fresh, webAddr, "x", fmt.Sprintf("/r%d/x", i-1)); !strings.HasPrefix(body, want+" ") {
			t.Fatalf("after reload %d the old route /r%d/ still routed: %q", i, i-1, body)
		}
		c := rawRequest(t, fwAddr, "")
		if l, _ := bufio.NewReader(c).ReadString('\n'); l != []string{"one\n", "two\n"}[i%2] {
			t.Fatalf("after reload %d a new TCP connection was greeted %q", i, l)
		}
		c.Close()
		// The long-lived connection still talks to its first upstream.
		fmt.Fprintf(long, "msg %d\n", i)
		if l, err := longR.ReadString('\n'); err != nil || l != fmt.Sprintf("msg %d\n", i) {
			t.Fatalf("long-lived connection after reload %d: %q %v", i, l, err)
		}
		udpExchange(t, dnsAddr, fmt.Sprintf("udp %d", i))
	}

	// Refused: a config that does not validate, and one whose new
	// listener's port is taken. The running config stays.
	write("tcp: [{name: broken}]\n")
	if code, body := postReload(t, admin); code != http.StatusUnprocessableEntity || !strings.Contains(body, "tcp[0]") {
		t.Fatalf("invalid config: %d %q", code, body)
	}
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	write(conf(5) + fmt.Sprintf("  - name: clash\n    listen: [%q]\n    upstreams: [{addr: %q}]\n", taken.Addr().String(), httpUps[0]))
	if code, body := postReload(t, admin); code != http.StatusUnprocessableEntity || !strings.Contains(body, "address already in use") {
		t.Fatalf("port clash: %d %q", code, body)
	}
	if _, body := get(t, &http.Client{Transport: &http.Transport{}}, webAddr, "x", "/"); !strings.HasPrefix(body, "B ") {
		t.Fatalf("after the refused reloads: %q, want the running config's upstream B", body)
	}
	close(stop)
	wg.Wait()
	failures.Range(func(k, _ any) bool {
		t.Errorf("under load: %s", k)
		return true
	})
	if httpOK.Load() == 0 || tcpOK.Load() == 0 {
		t.Errorf("the load made %d HTTP requests and %d TCP exchanges", httpOK.Load(), tcpOK.Load())
	}
	for result, want := range map[string]float64{"ok": 5, "invalid": 1, "failed": 1} {
		if v := promtest.Sum(t, a.reg, "sluice_reloads_total", "result", result); v != want {
			t.Errorf("sluice_reloads_total{result=%s} = %v, want %v", result, v, want)
		}
	}
}

// udpEchoServer is a UDP echo upstream on 127.0.0.1:0.
func udpEchoServer(t *testing.T) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go serveUDPEcho(pc, &wg)
	t.Cleanup(func() { pc.Close(); wg.Wait() })
	return pc.LocalAddr().String()
}

// udpExchange sends msg through the UDP service at addr and waits for its
// echo (resending, since a datagram may be lost: it is UDP).
func udpExchange(t *testing.T, addr, msg string) {
	t.Helper()
	c, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	buf := make([]byte, 64)
	for try := 0; try < 20; try++ {
		c.Write([]byte(msg))
		c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		if n, err := c.Read(buf); err == nil && string(buf[:n]) == msg {
			return
		}
	}
	t.Fatalf("no echo of %q through the udp service", msg)
}

// TestReloadKeepsUpstreamHealth: an upstream passive health took down
// stays down in the service a reload rebuilt (a changed setting), so it is
// not tried, failed and taken down again.
func TestReloadKeepsUpstreamHealth(t *testing.T) {
	dead, live := deadAddr(t), origin(t, "L").Listener.Addr().String()
	path := filepath.Join(t.TempDir(), "s.yaml")
	conf := func(connect string) string {
		return fmt.Sprintf("log: {level: info}\nmetrics: {listen: \"127.0.0.1:0\"}\nhttp:\n  - name: web\n    listen: [\"127.0.0.1:0\"]\n    upstreams: [{addr: %q}, {addr: %q}]\n    timeouts: {connect: %s}\n", dead, live, connect)
	}
	if err := os.WriteFile(path, []byte(conf("5s")), 0o600); err != nil {
		t.Fatal(err)
	}
	down := newLineCounter("healthy=false")
	a, _ := runFileStop(t, path, down)
	c := &http.Client{Transport: &http.Transport{}}
	webAddr := a.addrOf("http", 0)
	// Requests until passive health takes the dead upstream down (each
	// that tried it failed over to the live one).
	for i := 0; ; i++ {
		if status, body := get(t, c, webAddr, "x", "/"); status != 200 || !strings.HasPrefix(body, "L ") {
			t.Fatalf("request %d: %d %q", i, status, body)
		}
		if strings.Contains(down.String(), "healthy=false") {
			break
		}
		if i > 100 {
			t.Fatal("the dead upstream was never taken down")
		}
	}
	down.await(t, 1)
	if err := os.WriteFile(path, []byte(conf("4s")), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, body := postReload(t, a.metricsL.Addr().String()); code != 200 {
		t.Fatalf("reload: %d %q", code, body)
	}
	if !strings.Contains(down.String(), "reason=\"inherited") {
		t.Errorf("the rebuilt service did not report the inherited down state:\n%s", down.String())
	}
	if v := promtest.Sum(t, a.reg, "sluice_http_upstream_healthy", "upstream", dead); v != 0 {
		t.Errorf("sluice_http_upstream_healthy{upstream=dead} = %v after the reload, want 0", v)
	}
	for i := range 10 {
		if status, body := get(t, c, webAddr, "x", "/"); status != 200 || !strings.HasPrefix(body, "L ") {
			t.Fatalf("after the reload, request %d: %d %q", i, status, body)
		}
	}
	if n := strings.Count(down.String(), "healthy=false") - strings.Count(down.String(), "reason=\"inherited"); n != 1 {
		t.Fatalf("the dead upstream went down %d times; the rebuilt service forgot it was down:\n%s", n, down.String())
	}
}

// TestReloadOnSIGHUP: SIGHUP to the running process reloads its file.
func TestReloadOnSIGHUP(t *testing.T) {
	a1, b1 := origin(t, "A").Listener.Addr().String(), origin(t, "B").Listener.Addr().String()
	path := filepath.Join(t.TempDir(), "s.yaml")
	conf := func(up string) []byte {
		return []byte(fmt.Sprintf("log: {level: info}\nhttp:\n  - name: web\n    listen: [\"127.0.0.1:0\"]\n    upstreams: [{addr: %q}]\n", up))
	}
	if err := os.WriteFile(path, conf(a1), 0o600); err != nil {
		t.Fatal(err)
	}
	reloaded := newLineCounter(`msg="config reloaded"`)
	a, _ := runFileStop(t, path, reloaded)
	if err := os.WriteFile(path, conf(b1), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil { // run's loop catches it
		t.Fatal(err)
	}
	reloaded.await(t, 1)
	if _, body := get(t, &http.Client{Transport: &http.Transport{}}, a.addrOf("http", 0), "x", "/"); !strings.HasPrefix(body, "B ") {
		t.Fatalf("after SIGHUP: %q, want the new upstream B", body)
	}
}
