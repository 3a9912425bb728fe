package httpproxy

import (
	"context"
	"net"
	"net/http"
	"os"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/sluice-proxy/sluice/vstream"
)

// countingProxy hands out one peer and counts FailToConnect calls.
type countingProxy struct {
	peer      *Peer
	failConns atomic.Int32
}

func (p *countingProxy) UpstreamPeer(context.Context, *Session) (*Peer, error) { return p.peer, nil }

func (p *countingProxy) FailToConnect(_ context.Context, _ *Session, _ *Peer, err error) error {
	p.failConns.Add(1)
	return Retryable(err)
}

// A connect that fails because the proxy is out of descriptors is the
// proxy's own fault: the client gets 503, the failure is counted and
// logged as local_resource, FailToConnect (where a balancer hears of
// failed peers) is not called, and nothing is retried.
func TestLocalResourceIsNotThePeers(t *testing.T) {
	var dials atomic.Int32
	emfile := vstream.DialerFunc(func(ctx context.Context, addr string) (vstream.Stream, error) {
		dials.Add(1)
		return nil, &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("socket", syscall.EMFILE)}
	})
	p := &countingProxy{peer: &Peer{Addr: "upstream", Dialer: emfile}}
	h := startService(t, p, Config{})
	c := dialProxy(t, h.addr)
	c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, body := c.response("GET")
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("status %d %q, want 503", resp.StatusCode, body)
	}
	if m := h.request(t); m["kind"] != "local_resource" {
		t.Errorf("logged kind %q, want local_resource", m["kind"])
	}
	if n := p.failConns.Load(); n != 0 {
		t.Errorf("FailToConnect called %d times, want 0: the peer did not fail", n)
	}
	if n := dials.Load(); n != 1 {
		t.Errorf("%d dials, want 1: a local shortage is not retried", n)
	}
	if v := h.metric(t, "sluice_http_errors_total", "kind", "local_resource"); v != 1 {
		t.Errorf("errors{kind=local_resource} = %v, want 1", v)
	}
	if v := h.metric(t, "sluice_http_upstream_connect_errors_total"); v != 0 {
		t.Errorf("upstream connect errors = %v, want 0", v)
	}
}

// An error response the client is no longer there to receive is logged
// and counted as not delivered: status 0 (code "none") with the status
// that was meant, never as a 502 sent.
func TestLostErrorResponseLoggedUndelivered(t *testing.T) {
	got := make(chan struct{})
	hangUp := make(chan struct{})
	addr := rawOrigin(t, func(c net.Conn) {
		buf := make([]byte, 4096)
		c.Read(buf) // the request head
		close(got)
		<-hangUp // then close without answering: 502
	})
	h := startService(t, static{&Peer{Addr: addr}}, Config{})
	client, server := vstream.Pipe()
	served := make(chan struct{})
	go func() {
		defer close(served)
		h.svc.ServeStream(context.Background(), server)
	}()
	if _, err := client.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	<-got
	client.Close() // the client goes away while the upstream works
	close(hangUp)
	m := h.request(t)
	<-served
	if m["status"] != "0" || m["undelivered_status"] != "502" {
		t.Errorf("access log status=%s undelivered_status=%s, want 0 and 502", m["status"], m["undelivered_status"])
	}
	if v := h.metric(t, "sluice_http_requests_total", "code", "none"); v != 1 {
		t.Errorf("requests{code=none} = %v, want 1", v)
	}
	if v := h.metric(t, "sluice_http_requests_total", "code", "5xx"); v != 0 {
		t.Errorf("requests{code=5xx} = %v, want 0: nothing reached the client", v)
	}
}
