package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sluice-proxy/sluice/internal/promtest"
)

// hangGuard bounds waits that must end by themselves, so that a broken
// proxy fails the test with a message instead of hanging it. It is no
// timing assertion: every wait it guards ends far sooner when things work.
const hangGuard = 30 * time.Second

// lineCounter is a log writer that counts the log lines containing want
// and lets a test wait for them.
type lineCounter struct {
	want    string
	signal  chan struct{} // one pending wake-up for await
	mu      sync.Mutex
	buf     strings.Builder
	matched int // lines containing want so far
	awaited int // lines await has already returned for
}

func newLineCounter(want string) *lineCounter {
	return &lineCounter{want: want, signal: make(chan struct{}, 1)}
}

func (w *lineCounter) Write(p []byte) (int, error) {
	w.mu.Lock()
	w.buf.Write(p)
	for _, l := range strings.Split(string(p), "\n") {
		if strings.Contains(l, w.want) {
			w.matched++
		}
	}
	w.mu.Unlock()
	select { // never blocks the logger
	case w.signal <- struct{}{}:
	default:
	}
	return len(p), nil
}

func (w *lineCounter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// await waits for n more lines containing want.
func (w *lineCounter) await(t *testing.T, n int) {
	t.Helper()
	guard := time.After(hangGuard)
	for {
		w.mu.Lock()
		got := w.matched - w.awaited
		if got >= n {
			w.awaited += n
			w.mu.Unlock()
			return
		}
		w.mu.Unlock()
		select {
		case <-w.signal:
		case <-guard:
			t.Fatalf("saw %d of %d log lines with %q:\n%s", got, n, w.want, w.String())
		}
	}
}

// runYAML runs config text in-process with logs going to logs, and stops
// it at cleanup.
func runYAML(t *testing.T, yaml string, logs io.Writer) *app {
	t.Helper()
	cfg, err := parseConfig("t.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	a, _ := runConfig(t, cfg, logs)
	return a
}

// runConfig runs cfg in-process with logs going to logs, until the test
// ends or the stop it returns is called (which waits for the run to end).
func runConfig(t *testing.T, cfg *Config, logs io.Writer) (*app, func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan *app, 1)
	done := make(chan error, 1)
	go func() { done <- run(ctx, cfg, io.Discard, logs, func(a *app) { ready <- a }) }()
	var a *app
	select {
	case a = <-ready:
	case err := <-done:
		t.Fatalf("run: %v", err)
	}
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("run: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return a, stop
}

// rawRequest sends req on a new connection to addr and returns the
// connection, with a hang guard on its reads.
func rawRequest(t *testing.T, addr, req string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetReadDeadline(time.Now().Add(hangGuard))
	if req != "" {
		if _, err := io.WriteString(c, req); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

// readStatus reads one response head from c and returns its status.
func readStatus(t *testing.T, c net.Conn) (int, *http.Response) {
	t.Helper()
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("no response: %v", err)
	}
	return resp.StatusCode, resp
}

// bigBody writes n bytes of body with a Content-Length (or chunked, in
// pieces, when chunked), until done or the proxy stops taking them.
func bigBody(w http.ResponseWriter, n int, chunked bool) {
	if !chunked {
		w.Header().Set("Content-Length", strconv.Itoa(n))
	}
	chunk := make([]byte, 64<<10)
	for sent := 0; sent < n; sent += len(chunk) {
		if _, err := w.Write(chunk); err != nil {
			return
		}
		if chunked {
			w.(http.Flusher).Flush()
		}
	}
}

// TestHTTPStalledReadersKeepUpstreamUp: clients that stop reading a large
// response, on the spliced path (Content-Length) and on the buffered one
// (chunked), end as the client's timeout, never the upstream's: after more
// of them than the passive-health threshold (3), the upstream is still up
// and other clients are served. Before the fix a stalled reader of a
// spliced body counted as an upstream timeout and three took the upstream
// down.
func TestHTTPStalledReadersKeepUpstreamUp(t *testing.T) {
	o := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/big":
			bigBody(w, 64<<20, false)
		case "/chunked":
			bigBody(w, 64<<20, true)
		default:
			io.WriteString(w, "small")
		}
	}))
	defer o.Close()
	logs := newLineCounter(`msg="http request"`) // failed requests only, at level warn
	a := runYAML(t, fmt.Sprintf(`log: {level: warn}
http:
  - name: web
    listen: ["127.0.0.1:0"]
    upstreams: [{addr: %q}]
    timeouts: {upstream_read: 300ms, write: 300ms}
`, o.Listener.Addr()), logs)
	addr := a.addrOf("http", 0)
	// Each client asks and never reads: its receive buffer fills, then the
	// proxy's send buffer, then the proxy's write waits.
	for _, path := range []string{"/big", "/big", "/big", "/chunked", "/chunked"} {
		rawRequest(t, addr, "GET "+path+" HTTP/1.1\r\nHost: x\r\n\r\n")
	}
	logs.await(t, 5)
	if n := strings.Count(logs.String(), "kind=downstream_timeout"); n != 5 {
		t.Errorf("%d of 5 stalled requests logged as kind=downstream_timeout:\n%s", n, logs)
	}
	if v := promtest.Sum(t, a.reg, "sluice_http_upstream_healthy", "service", "web"); v != 1 {
		t.Errorf("sluice_http_upstream_healthy = %v after clients stalled, want 1", v)
	}
	if v := promtest.Sum(t, a.reg, "sluice_http_errors_total", "service", "web", "kind", "upstream_timeout"); v != 0 {
		t.Errorf("errors{kind=upstream_timeout} = %v, want 0: the upstream never stalled", v)
	}
	c := &http.Client{Transport: &http.Transport{}}
	for range 3 {
		if status, body := get(t, c, addr, "x", "/small"); status != 200 || body != "small" {
			t.Fatalf("another client got %d %q, want 200 small", status, body)
		}
	}
}

// TestHTTP504ArrivesAfterLongWait: with timeouts.write shorter than the
// wait for an upstream that never answers, the 504 still reaches the
// client (its write gets a deadline of its own), and the log says 504.
// Before the fix its write deadline had passed with the wait, and the
// client saw the connection close without a response.
func TestHTTP504ArrivesAfterLongWait(t *testing.T) {
	unstick := make(chan struct{})
	stuck := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-unstick }))
	defer stuck.Close()
	defer close(unstick)
	logs := newLineCounter("status=504")
	a := runYAML(t, fmt.Sprintf(`log: {level: info}
http:
  - name: web
    listen: ["127.0.0.1:0"]
    upstreams: [{addr: %q}]
    timeouts: {upstream_read: 300ms, write: 100ms}
`, stuck.Listener.Addr()), logs)
	addr := a.addrOf("http", 0)
	c := rawRequest(t, addr, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	status, resp := readStatus(t, c)
	body, _ := io.ReadAll(resp.Body)
	if status != http.StatusGatewayTimeout || !strings.Contains(string(body), "did not answer in time") {
		t.Fatalf("got %d %q, want 504 with its body", status, body)
	}
	logs.await(t, 1)
	if strings.Contains(logs.String(), "undelivered_status") {
		t.Errorf("the 504 arrived but the log says it was not delivered:\n%s", logs)
	}
}

// TestHTTPStalledRequestBody408: a client that stops sending its request
// body gets 408 (its own timeout), even with timeouts.write shorter than
// body_read; before the fix it got 500 (logged as downstream_closed), or
// nothing. The upstream, which took the head and waited for the body, is
// not blamed.
func TestHTTPStalledRequestBody408(t *testing.T) {
	o := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
	}))
	defer o.Close()
	logs := newLineCounter("status=408")
	a := runYAML(t, fmt.Sprintf(`log: {level: info}
http:
  - name: web
    listen: ["127.0.0.1:0"]
    upstreams: [{addr: %q}]
    timeouts: {body_read: 300ms, write: 100ms}
`, o.Listener.Addr()), logs)
	addr := a.addrOf("http", 0)
	for range 4 { // past the passive-health threshold
		c := rawRequest(t, addr, "POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789")
		if status, _ := readStatus(t, c); status != http.StatusRequestTimeout {
			t.Fatalf("stalled body: status %d, want 408", status)
		}
	}
	logs.await(t, 4)
	if !strings.Contains(logs.String(), "kind=downstream_timeout") {
		t.Errorf("log lacks kind=downstream_timeout:\n%s", logs)
	}
	if v := promtest.Sum(t, a.reg, "sluice_http_upstream_healthy", "service", "web"); v != 1 {
		t.Errorf("sluice_http_upstream_healthy = %v, want 1: the clients stalled, not the upstream", v)
	}
}

// TestHTTPLingeringClose431: a request head far over the limit is answered
// 431, and the rest of it, still arriving, is read and dropped before the
// connection closes, so the client reads the whole answer and then a clean
// end. Before the fix the proxy closed with the client's bytes unread, the
// kernel sent a reset, and the client's read ended in ECONNRESET (which on
// a real network can destroy the answer itself).
func TestHTTPLingeringClose431(t *testing.T) {
	o := origin(t, "A")
	a := runYAML(t, fmt.Sprintf(`log: {level: error}
http:
  - name: web
    listen: ["127.0.0.1:0"]
    upstreams: [{addr: %q}]
`, o.Listener.Addr()), io.Discard)
	addr := a.addrOf("http", 0)
	c := rawRequest(t, addr, "")
	var head strings.Builder
	head.WriteString("GET / HTTP/1.1\r\nHost: x\r\n")
	for i := range 32 { // 32 × 8 KiB: four times the 64 KiB head limit
		fmt.Fprintf(&head, "X-Pad-%d: %s\r\n", i, strings.Repeat("a", 8<<10))
	}
	head.WriteString("\r\n")
	sent := make(chan error, 1)
	go func() {
		_, err := io.WriteString(c, head.String())
		c.(*net.TCPConn).CloseWrite()
		sent <- err
	}()
	got, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("reading the answer: %v after %q; want the 431 and a clean end, no reset", err, got)
	}
	if !strings.HasPrefix(string(got), "HTTP/1.1 431 ") {
		t.Fatalf("got %q, want 431", got)
	}
	if err := <-sent; err != nil {
		t.Fatalf("sending the head: %v; want it read and dropped", err)
	}
}

// TestForwardRecoversFromFDShortage runs `sluice forward` as a real process
// with a small descriptor limit and loads it past the limit: connections
// whose upstream dial fails for lack of descriptors are dropped and logged
// as local_resource, never held against the upstream, so once the load is
// gone the next connection is relayed at once. Before the fix the dials'
// EMFILE counted as upstream failures, the upstream went down for the
// passive cooldown, and clients were refused after the shortage was over.
func TestForwardRecoversFromFDShortage(t *testing.T) {
	up := echoServer(t)
	p := startForward(t, up)
	// Room for a handful of proxied connections (two descriptors each)
	// beyond what the process holds now.
	p.limitFDs(t, 12)
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	// Many clients at once: some are relayed, the rest are dropped when
	// their upstream dial finds no descriptor left, or closed in the listen
	// queue when accept finds none (without that, a client queued while
	// the relayed ones held every descriptor waited for its own timeout).
	const clients = 40
	for range clients {
		c, err := net.Dial("tcp", p.addr)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	// Each client writes, reads and closes on its own goroutine: a relayed
	// connection holds its descriptors only until it has echoed, so a
	// client still queued is never stuck behind the others.
	errs := make(chan error, clients)
	for _, c := range conns {
		go func() {
			defer c.Close()
			c.SetReadDeadline(time.Now().Add(hangGuard))
			c.Write([]byte("x"))
			_, err := c.Read(make([]byte, 1))
			errs <- err
		}()
	}
	relayed := 0
	for range clients {
		switch err := <-errs; {
		case err == nil:
			relayed++
		case errors.Is(err, io.EOF), errors.Is(err, syscall.ECONNRESET):
		default:
			t.Fatalf("client: %v\nsluice logged:\n%s", err, p.logs.String())
		}
	}
	if relayed == 0 || relayed == clients {
		t.Fatalf("%d of %d clients relayed; want some but not all (the limit must bite)", relayed, clients)
	}
	// The load is gone: every relayed connection ends, and its descriptors
	// are free once its access-log line is out.
	conns = nil
	p.closed.await(t, relayed)
	c := rawRequest(t, p.addr, "")
	roundTrip(t, c, "after the shortage")
	logs := p.logs.String()
	// Each refused client was either accepted and dropped when its dial
	// found no descriptor, or closed while queued when accept found none.
	if !strings.Contains(logs, "reason=local_resource") && !strings.Contains(logs, "closing queued connections") {
		t.Errorf("no dial or accept failure logged:\n%s", logs)
	}
	if strings.Contains(logs, "healthy=false") {
		t.Errorf("the upstream was marked down:\n%s", logs)
	}
}

// forwardProc is `sluice forward` running as a child process.
type forwardProc struct {
	cmd    *exec.Cmd
	pid    int
	addr   string
	logs   *lineCounter  // every log line after the listener's; counts nothing
	closed *lineCounter  // counts access-log lines of relayed connections
	eof    chan struct{} // closed when the process's stderr has ended
}

// startForward starts `sluice forward 127.0.0.1:0 up` (the test binary
// standing in for sluice) and waits for its listener.
func startForward(t *testing.T, up string) *forwardProc {
	t.Helper()
	return startForwardArgs(t, "127.0.0.1:0", up)
}

// startForwardArgs starts `sluice forward ARGS...`; its listener must be
// the only one.
func startForwardArgs(t *testing.T, args ...string) *forwardProc {
	t.Helper()
	cmd := exec.Command(os.Args[0], append([]string{"forward"}, args...)...)
	cmd.Env = append(os.Environ(), "SLUICE_TEST_MAIN=1")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	p := &forwardProc{
		cmd: cmd, pid: cmd.Process.Pid, eof: make(chan struct{}),
		logs: newLineCounter("\x00"), closed: newLineCounter(`msg="connection closed"`),
	}
	sc := bufio.NewScanner(stderr)
	for sc.Scan() {
		if m := listeningRE.FindStringSubmatch(sc.Text()); m != nil {
			p.addr = m[1]
			break
		}
	}
	if p.addr == "" {
		t.Fatal("sluice never reported its listener")
	}
	go func() {
		defer close(p.eof)
		for sc.Scan() {
			line := sc.Text() + "\n"
			p.logs.Write([]byte(line))
			p.closed.Write([]byte(line))
		}
	}()
	return p
}

// wait waits for the process to exit and returns every log line it wrote
// after its listener's, and its exit error.
func (p *forwardProc) wait() (string, error) {
	<-p.eof // before Wait, which closes the pipe
	err := p.cmd.Wait()
	return p.logs.String(), err
}

// limitFDs sets the process's descriptor limit (soft and hard) to what it
// holds now plus extra.
func (p *forwardProc) limitFDs(t *testing.T, extra int) {
	t.Helper()
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", p.pid))
	if err != nil {
		t.Skipf("cannot count the process's descriptors: %v", err)
	}
	n := uint64(len(fds) + extra)
	if err := unix.Prlimit(p.pid, unix.RLIMIT_NOFILE, &unix.Rlimit{Cur: n, Max: n}, nil); err != nil {
		t.Skipf("prlimit: %v", err)
	}
}
