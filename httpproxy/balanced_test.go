package httpproxy

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/sluice-proxy/sluice/lb"
)

// balancedProxy is all a Proxy needs to be balanced: UpstreamPeer returns
// Pick.
type balancedProxy struct{ up *Balanced }

func (p balancedProxy) UpstreamPeer(_ context.Context, s *Session) (*Peer, error) {
	return p.up.Pick(s)
}

// healthEvents records a balancer's health flips.
func healthEvents() (lb.Option, chan string) {
	ch := make(chan string, 16)
	return lb.OnHealthChange(func(be *lb.Backend, healthy bool, reason string) {
		ch <- fmt.Sprintf("%s healthy=%v", be.Addr, healthy)
	}), ch
}

// Least connections through the library alone: a request in flight holds
// its backend (Active 1), so the next request goes to the other, and both
// are released when their requests end.
func TestBalancedLeastConnCounts(t *testing.T) {
	entered := make(chan string, 2)
	release := make(chan struct{})
	handler := func(name string) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			entered <- name
			<-release
			fmt.Fprint(w, name)
		})
	}
	a, b := newOrigin(t, handler("a")), newOrigin(t, handler("b"))
	bal, err := lb.New([]lb.BackendConfig{{Addr: a.addr}, {Addr: b.addr}}, lb.LeastConn)
	if err != nil {
		t.Fatal(err)
	}
	h := startService(t, balancedProxy{NewBalanced(bal, nil)}, Config{})
	var wg sync.WaitGroup
	got := make(chan string, 2)
	for range 2 {
		c := dialProxy(t, h.addr)
		c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		<-entered // in flight before the next is sent
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, body := c.response("GET")
			got <- body
		}()
	}
	for _, be := range bal.Backends() {
		if be.Active() != 1 {
			t.Errorf("backend %s Active = %d with one request each in flight, want 1", be.Addr, be.Active())
		}
	}
	close(release)
	wg.Wait()
	if a, b := <-got, <-got; a == b {
		t.Errorf("both requests went to %s; least_conn should have split them", a)
	}
	h.request(t)
	h.request(t) // both logged: their backends are released by then
	for _, be := range bal.Backends() {
		if be.Active() != 0 {
			t.Errorf("backend %s Active = %d after the requests ended, want 0", be.Addr, be.Active())
		}
	}
}

// Passive health and failover through the library alone: a backend that
// refuses connections is failed over within each request (the client
// never sees it), reported, and taken down after three failures; one that
// closes mid-response is reported too.
func TestBalancedPassiveHealth(t *testing.T) {
	live := newOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "live") }))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := l.Addr().String()
	l.Close()
	onHealth, events := healthEvents()
	bal, err := lb.New([]lb.BackendConfig{{Addr: dead}, {Addr: live.addr}}, lb.RoundRobin, onHealth)
	if err != nil {
		t.Fatal(err)
	}
	h := startService(t, balancedProxy{NewBalanced(bal, nil)}, Config{})
	for i := 0; ; i++ {
		c := dialProxy(t, h.addr)
		c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		if resp, body := c.response("GET"); resp.StatusCode != 200 || body != "live" {
			t.Fatalf("request %d: %d %q, want 200 live (failed over)", i, resp.StatusCode, body)
		}
		h.request(t)
		select {
		case ev := <-events:
			if ev != dead+" healthy=false" {
				t.Fatalf("health event %q, want %s down", ev, dead)
			}
		default:
			if i == 10 {
				t.Fatal("the refusing backend was never taken down")
			}
			continue
		}
		break
	}

	// An upstream that closes mid-response is the upstream's fault.
	cut := rawOrigin(t, func(c net.Conn) {
		buf := make([]byte, 4096)
		c.Read(buf)
		c.Write([]byte("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort"))
	})
	onHealth, events = healthEvents()
	bal2, err := lb.New([]lb.BackendConfig{{Addr: cut}}, lb.RoundRobin, onHealth)
	if err != nil {
		t.Fatal(err)
	}
	h2 := startService(t, balancedProxy{NewBalanced(bal2, nil)}, Config{})
	for range 3 {
		c := dialProxy(t, h2.addr)
		c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		if resp, err := http.ReadResponse(c.r, nil); err == nil {
			io.Copy(io.Discard, resp.Body) // cut short: the body ends early
		}
		h2.request(t)
	}
	if ev := <-events; ev != cut+" healthy=false" {
		t.Fatalf("health event %q, want %s down after three cut responses", ev, cut)
	}
}

// A backend picked by the hash policy is keyed on the client's IP: every
// request of one client goes to the same backend.
func TestBalancedHashKeysOnClient(t *testing.T) {
	a := newOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "a") }))
	b := newOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "b") }))
	bal, err := lb.New([]lb.BackendConfig{{Addr: a.addr}, {Addr: b.addr}}, lb.Hash)
	if err != nil {
		t.Fatal(err)
	}
	h := startService(t, balancedProxy{NewBalanced(bal, nil)}, Config{})
	seen := map[string]int{}
	for range 6 {
		c := dialProxy(t, h.addr)
		c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		_, body := c.response("GET")
		seen[body]++
	}
	if len(seen) != 1 {
		t.Errorf("one client's requests went to %v, want one backend", seen)
	}
}

// Failures that are not consecutive never take a backend down: an answer
// resets the count. Three in a row do.
func TestBalancedSuccessResetsFailures(t *testing.T) {
	addr := rawOrigin(t, func(c net.Conn) {
		buf := make([]byte, 4096)
		n, _ := c.Read(buf)
		if strings.HasPrefix(string(buf[:n]), "GET /cut ") {
			c.Write([]byte("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort"))
			return
		}
		c.Write([]byte("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"))
	})
	onHealth, events := healthEvents()
	bal, err := lb.New([]lb.BackendConfig{{Addr: addr}}, lb.RoundRobin, onHealth)
	if err != nil {
		t.Fatal(err)
	}
	h := startService(t, balancedProxy{NewBalanced(bal, nil)}, Config{})
	request := func(path string) {
		c := dialProxy(t, h.addr)
		c.send("GET " + path + " HTTP/1.1\r\nHost: x\r\n\r\n")
		if resp, err := http.ReadResponse(c.r, nil); err == nil {
			io.Copy(io.Discard, resp.Body)
		}
		h.request(t) // logged: reported by then
	}
	for range 3 {
		request("/cut")
		request("/cut")
		request("/")
	}
	if !bal.Backends()[0].Healthy() {
		t.Fatal("down, though no three failures were consecutive")
	}
	request("/cut")
	request("/cut")
	request("/cut")
	if ev := <-events; ev != addr+" healthy=false" {
		t.Fatalf("event %q, want %s down after three consecutive failures", ev, addr)
	}
}
