package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// procLogs fans a process tree's stderr out to line counters.
type procLogs struct {
	all      *lineCounter
	stopped  *lineCounter // a process finished its shutdown
	started  *lineCounter // a successor was started by SIGUSR2
	takeover *lineCounter // a successor took over
}

var (
	addrRE = regexp.MustCompile(`msg=listening service=(\S+) addr=(\S+)`)
	pidRE  = regexp.MustCompile(`upgrade: started the new process" pid=(\d+)`)
)

// TestUpgradeThroughProcesses: real sluice processes hand their listening
// sockets on five times (SIGUSR2, and `run -c FILE -upgrade`, in turn)
// under continuous keep-alive HTTP requests and a loop of new TCP
// connections: no request fails, no connection is refused or reset, the
// addresses stay the same; a TCP connection opened before an upgrade is
// drained in the old process, which exits once it ends; the UDP service
// (not handed over: each process binds its port) keeps echoing, and the
// datagrams lost are logged. A successor that cannot start (a port it
// cannot bind) leaves the running process serving.
func TestUpgradeThroughProcesses(t *testing.T) {
	web := origin(t, "W").Listener.Addr().String()
	up := greeter(t, "hi")
	// UDP is not handed over: each process binds the port (SO_REUSEPORT,
	// two workers), so it must be a fixed one.
	free, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	udpAddr := free.LocalAddr().String()
	free.Close()
	udpUp := udpEchoServer(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "sluice.yaml")
	sock := filepath.Join(dir, "up.sock")
	conf := fmt.Sprintf(`log: {level: info, access_log: false}
metrics: {listen: "127.0.0.1:0"}
shutdown: {grace: 60s}
lifecycle: {upgrade_socket: %q}
tcp:
  - name: fw
    listen: ["127.0.0.1:0"]
    upstreams: [{addr: %q}]
udp:
  - name: dns
    listen: [%q]
    workers: 2
    upstreams: [{addr: %q}]
http:
  - name: web
    listen: ["127.0.0.1:0"]
    upstreams: [{addr: %q}]
`, sock, up, udpAddr, udpUp, web)
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	logs := &procLogs{all: newLineCounter("msg=listening"), stopped: newLineCounter("msg=stopped"),
		started: newLineCounter("started the new process"), takeover: newLineCounter("took over from the old process")}
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	first := exec.Command(os.Args[0], "run", "-c", path)
	first.Env = append(os.Environ(), "SLUICE_TEST_MAIN=1")
	first.Stderr = pw
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	var pids sync.Map // every process started, killed at cleanup
	pids.Store(first.Process.Pid, true)
	// The exits of the processes this test started itself (the others
	// are their children): each must be 0 once it was replaced.
	var exits []chan error
	waitFor := func(cmd *exec.Cmd) {
		ch := make(chan error, 1)
		exits = append(exits, ch)
		go func() { ch <- cmd.Wait() }()
	}
	waitFor(first)
	t.Cleanup(func() {
		pids.Range(func(k, _ any) bool {
			syscall.Kill(k.(int), syscall.SIGKILL)
			return true
		})
	})
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			line := sc.Text() + "\n"
			for _, c := range []*lineCounter{logs.all, logs.stopped, logs.started, logs.takeover} {
				c.Write([]byte(line))
			}
		}
	}()
	logs.all.await(t, 3) // fw, dns, web
	addrs := map[string]string{}
	for _, m := range addrRE.FindAllStringSubmatch(logs.all.String(), -1) {
		addrs[m[1]] = m[2]
	}
	webAddr, fwAddr := addrs["web"], addrs["fw"]
	if webAddr == "" || fwAddr == "" {
		t.Fatalf("addresses not logged:\n%s", logs.all.String())
	}

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var httpOK, tcpOK atomic.Int64
	var failures sync.Map
	fail := func(what string, err error) { failures.Store(fmt.Sprintf("%s: %v", what, err), true) }
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}, Timeout: hangGuard}
	wg.Add(2)
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
			if err != nil || resp.StatusCode != 200 || !strings.HasPrefix(string(b), "W ") {
				fail("http", fmt.Errorf("%d %q %v", resp.StatusCode, b, err))
				continue
			}
			httpOK.Add(1)
		}
	}()
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
			if l, err := r.ReadString('\n'); err != nil || l != "hi\n" {
				fail("tcp greeting", fmt.Errorf("%q %v", l, err))
			} else {
				tcpOK.Add(1)
			}
			c.Close()
		}
	}()

	// UDP: one datagram at a time, each waiting for its echo; a datagram
	// with no echo within 200 ms counts as lost (and is not resent).
	var udpSent, udpLost atomic.Int64
	wg.Add(1)
	go func() {
		defer wg.Done()
		c, err := net.Dial("udp", udpAddr)
		if err != nil {
			fail("udp dial", err)
			return
		}
		defer c.Close()
		buf := make([]byte, 64)
		for seq := 0; ; seq++ {
			select {
			case <-stop:
				return
			default:
			}
			msg := fmt.Sprintf("d%d", seq)
			c.Write([]byte(msg))
			udpSent.Add(1)
			c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
			for {
				n, err := c.Read(buf)
				if err != nil {
					udpLost.Add(1)
					break
				}
				if string(buf[:n]) == msg {
					break
				}
			}
		}
	}()

	current := first.Process.Pid
	for i := 1; i <= 5; i++ {
		// A connection held across the upgrade: the old process keeps
		// relaying it while it drains.
		long, err := net.Dial("tcp", fwAddr)
		if err != nil {
			t.Fatal(err)
		}
		long.SetDeadline(time.Now().Add(hangGuard))
		lr := bufio.NewReader(long)
		if l, _ := lr.ReadString('\n'); l != "hi\n" {
			t.Fatalf("upgrade %d: long-lived connection greeted %q", i, l)
		}
		if i%2 == 1 {
			syscall.Kill(current, syscall.SIGUSR2)
			logs.started.await(t, 1)
			ms := pidRE.FindAllStringSubmatch(logs.started.String(), -1)
			current, _ = strconv.Atoi(ms[len(ms)-1][1])
		} else {
			next := exec.Command(os.Args[0], "run", "-c", path, "-upgrade")
			next.Env = append(os.Environ(), "SLUICE_TEST_MAIN=1")
			next.Stderr = logWriter{logs}
			if err := next.Start(); err != nil {
				t.Fatal(err)
			}
			waitFor(next)
			current = next.Process.Pid
		}
		pids.Store(current, true)
		logs.takeover.await(t, 1)
		fmt.Fprintln(long, "still here")
		if l, err := lr.ReadString('\n'); err != nil || l != "still here\n" {
			t.Fatalf("upgrade %d: the connection held across it: %q %v", i, l, err)
		}
		long.Close() // the old process has nothing left to drain
		logs.stopped.await(t, 1)
	}
	udpExchange(t, udpAddr, "after the upgrades")
	for i, ch := range exits[:len(exits)-1] { // the last one still serves
		if err := <-ch; err != nil {
			t.Errorf("replaced process %d exited: %v", i, err)
		}
	}

	// A successor that fails before it serves (a port it cannot bind)
	// changes nothing: it exits 1, the running process goes on.
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte(conf+fmt.Sprintf("  - name: clash\n    listen: [%q]\n    upstreams: [{addr: %q}]\n", taken.Addr().String(), web)), 0o600); err != nil {
		t.Fatal(err)
	}
	failing := exec.Command(os.Args[0], "run", "-c", bad, "-upgrade")
	failing.Env = append(os.Environ(), "SLUICE_TEST_MAIN=1")
	if out, err := failing.CombinedOutput(); err == nil || !strings.Contains(string(out), "address already in use") {
		t.Fatalf("a successor that cannot bind: %v\n%s", err, out)
	}
	if status, body := get(t, &http.Client{Transport: &http.Transport{}}, webAddr, "x", "/"); status != 200 || !strings.HasPrefix(body, "W ") {
		t.Fatalf("after a failed upgrade: %d %q", status, body)
	}
	close(stop)
	wg.Wait()
	t.Logf("UDP across 5 upgrades: %d of %d datagrams without an echo", udpLost.Load(), udpSent.Load())
	failures.Range(func(k, _ any) bool {
		t.Errorf("under load: %s", k)
		return true
	})
	if httpOK.Load() == 0 || tcpOK.Load() == 0 {
		t.Errorf("the load made %d HTTP requests and %d TCP exchanges", httpOK.Load(), tcpOK.Load())
	}
}

// logWriter feeds a process's stderr to the test's counters.
type logWriter struct{ l *procLogs }

func (w logWriter) Write(p []byte) (int, error) {
	for _, c := range []*lineCounter{w.l.all, w.l.stopped, w.l.started, w.l.takeover} {
		c.Write(p)
	}
	return len(p), nil
}

// TestUpgradeRefusals: while one successor holds the hand-over (it took
// the sockets and has not said ready), a second is refused "busy"; when
// the first goes away without a word, the running sluice keeps serving.
func TestUpgradeRefusals(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "up.sock")
	path := filepath.Join(dir, "s.yaml")
	conf := fmt.Sprintf("log: {level: info}\nlifecycle: {upgrade_socket: %q}\nhttp:\n  - name: web\n    listen: [\"127.0.0.1:0\"]\n    upstreams: [{addr: %q}]\n",
		sock, origin(t, "W").Listener.Addr().String())
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	failed := newLineCounter("upgrade failed; this process goes on serving")
	a, _ := runFileStop(t, path, failed)
	first, err := receiveSockets(sock)
	if err != nil {
		t.Fatal(err)
	}
	if len(first.listeners) != 1 {
		t.Fatalf("handed %d sockets, want 1 (web's)", len(first.listeners))
	}
	second, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	second.SetReadDeadline(time.Now().Add(hangGuard))
	if l, _ := bufio.NewReader(second).ReadString('\n'); !strings.HasPrefix(l, "busy") {
		t.Fatalf("a second upgrade during the first was answered %q, want busy", l)
	}
	first.closeAll()
	first.c.Close() // gone without "ready"
	failed.await(t, 1)
	if status, body := get(t, &http.Client{Transport: &http.Transport{}}, a.addrOf("http", 0), "x", "/"); status != 200 || !strings.HasPrefix(body, "W ") {
		t.Fatalf("after an upgrade that never became ready: %d %q", status, body)
	}
}
