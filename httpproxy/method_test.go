package httpproxy

import (
	"context"
	"io"
	"net/http"
	"testing"

	"github.com/sluice-proxy/sluice/protocols/http1"
)

// methodRewriter sends every request upstream with method to.
type methodRewriter struct {
	static
	to string
}

func (p methodRewriter) UpstreamRequestFilter(_ context.Context, _ *Session, req *http1.Request) error {
	req.Method = []byte(p.to)
	return nil
}

// A HEAD request sent upstream as GET: the client gets the head only, and
// its connection (and the upstream one) stays in step for the next request.
func TestHeadSentAsGet(t *testing.T) {
	var methods []string
	up := newOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		methods = append(methods, r.Method)
		io.WriteString(w, "hello world")
	}))
	h := startService(t, methodRewriter{static{&Peer{Addr: up.addr}}, "GET"}, Config{})
	c := dialProxy(t, h.addr)
	for _, m := range []string{"HEAD", "HEAD"} {
		c.send(m + " / HTTP/1.1\r\nHost: x\r\n\r\n")
		resp, body := c.response(m)
		if resp.StatusCode != 200 || body != "" || resp.ContentLength != 11 {
			t.Fatalf("%s: got %d, body %q, Content-Length %d", m, resp.StatusCode, body, resp.ContentLength)
		}
	}
	// The connection still parses: a GET after the HEADs gets its body.
	c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	if resp, body := c.response("GET"); resp.StatusCode != 200 || body != "hello world" {
		t.Fatalf("GET after HEAD: %d %q", resp.StatusCode, body)
	}
	for _, m := range methods {
		if m != "GET" {
			t.Fatalf("upstream saw %v, want GET only", methods)
		}
	}
}

// A GET sent upstream as HEAD would leave the client waiting for a body
// that never comes: it is refused with 500.
func TestGetSentAsHeadRefused(t *testing.T) {
	up := newOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello world")
	}))
	h := startService(t, methodRewriter{static{&Peer{Addr: up.addr}}, "HEAD"}, Config{})
	c := dialProxy(t, h.addr)
	c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	if resp, _ := c.response("GET"); resp.StatusCode != 500 {
		t.Fatalf("got %d, want 500", resp.StatusCode)
	}
}
