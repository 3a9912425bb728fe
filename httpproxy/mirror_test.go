package httpproxy

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// mirrorProxy sends every request to main and a copy of it to shadow.
type mirrorProxy struct{ main, shadow *Peer }

func (p mirrorProxy) UpstreamPeer(_ context.Context, s *Session) (*Peer, error) {
	s.Mirror(p.shadow)
	return p.main, nil
}

// A mirrored request is answered by the main upstream while the shadow
// upstream still holds its copy: the client never waits for the shadow.
// The copy arrives whole (the head as sent upstream and a small body), its
// answer is dropped, and it is counted; a copy over MaxMirrors in flight is
// dropped and counted.
func TestMirrorDoesNotWait(t *testing.T) {
	release := make(chan struct{})
	got := make(chan string, 4)
	shadow := newOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b := make([]byte, 64)
		n, _ := r.Body.Read(b)
		got <- fmt.Sprintf("%s %s %s", r.Method, r.URL.Path, b[:n])
		<-release
		fmt.Fprint(w, "shadow")
	}))
	main := h2Origin(t)
	h := startService(t, mirrorProxy{&Peer{Addr: main.addr}, &Peer{Addr: shadow.addr}}, Config{MaxMirrors: 1})
	c := dialProxy(t, h.addr)
	c.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello")
	if resp, body := c.response("POST"); resp.StatusCode != 200 || body != "hello" {
		t.Fatalf("mirrored request: %d %q", resp.StatusCode, body)
	}
	// Answered while the shadow holds the copy (release is still open).
	select {
	case m := <-got:
		if m != "POST /echo hello" {
			t.Fatalf("the shadow got %q", m)
		}
	case <-time.After(safety):
		t.Fatal("no copy reached the shadow")
	}
	h.request(t)
	// The one slot is taken: the next copy is dropped, the request served.
	c.send("GET /second HTTP/1.1\r\nHost: x\r\n\r\n")
	if resp, body := c.response("GET"); resp.StatusCode != 200 || !strings.HasPrefix(body, "origin GET /second") {
		t.Fatalf("second request: %d %q", resp.StatusCode, body)
	}
	h.request(t)
	if v := h.metric(t, "sluice_http_mirror_total", "result", "dropped"); v != 1 {
		t.Errorf("mirror dropped = %v, want 1", v)
	}
	close(release)
	h.svc.mirrorWG.Wait() // the copy's answer read and dropped
	if v := h.metric(t, "sluice_http_mirror_total", "result", "ok"); v != 1 {
		t.Errorf("mirror ok = %v, want 1", v)
	}
}
