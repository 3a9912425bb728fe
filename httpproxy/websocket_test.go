package httpproxy

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// wsOrigin is an HTTP/1.1 upstream that accepts WebSocket upgrades (the
// RFC 6455 handshake) and then echoes the raw bytes it gets, prefixed
// once with "ws:"; rejected is answered 403.
func wsOrigin(t *testing.T) *origin {
	return newOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/rejected" || !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
			http.Error(w, "no", http.StatusForbidden)
			return
		}
		key := r.Header.Get("Sec-WebSocket-Key")
		c, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer c.Close()
		brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " +
			webSocketAccept(key) + "\r\nSec-WebSocket-Protocol: " + r.Header.Get("Sec-WebSocket-Protocol") + "\r\n\r\nws:")
		brw.Flush()
		io.Copy(c, brw)
	}))
}

// WebSocket over HTTP/2 (RFC 8441): an extended CONNECT from a real h2
// client reaches an HTTP/1.1 upstream as an upgrade, the stream gets 200
// after the upstream's 101, and bytes flow both ways until the client
// ends its side; a refused upgrade stays a plain response.
func TestWebSocketOverH2(t *testing.T) {
	o := wsOrigin(t)
	h := startService(t, static{&Peer{Addr: o.addr}}, Config{H2C: true})
	c := h2cClient(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), safety)
	defer cancel()

	pr, pw := io.Pipe()
	req, _ := http.NewRequestWithContext(ctx, "CONNECT", "http://"+h.addr+"/chat", pr)
	req.Header.Set(":protocol", "websocket")
	req.Header.Set("Sec-WebSocket-Version", "13")
	req.Header.Set("Sec-WebSocket-Protocol", "chat")
	resp, err := c.Transport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || resp.Header.Get("Sec-WebSocket-Protocol") != "chat" || resp.Header.Get("Sec-WebSocket-Accept") != "" {
		t.Fatalf("extended CONNECT: %d %v", resp.StatusCode, resp.Header)
	}
	br := bufio.NewReader(resp.Body)
	got := make([]byte, 3)
	if _, err := io.ReadFull(br, got); err != nil || string(got) != "ws:" {
		t.Fatalf("first bytes from the upstream: %q, %v", got, err)
	}
	for _, msg := range []string{"hello", "again"} {
		pw.Write([]byte(msg))
		got := make([]byte, len(msg))
		if _, err := io.ReadFull(br, got); err != nil || string(got) != msg {
			t.Fatalf("echo of %q: %q, %v", msg, got, err)
		}
	}
	pw.Close() // END_STREAM: the upstream's side is half-closed, it ends
	if rest, err := io.ReadAll(br); err != nil || len(rest) != 0 {
		t.Fatalf("after the client's end: %q, %v", rest, err)
	}
	if m := h.request(t); m["status"] != "101" {
		t.Errorf("logged status %q, want 101 (the upstream's)", m["status"])
	}

	req, _ = http.NewRequestWithContext(ctx, "CONNECT", "http://"+h.addr+"/rejected", http.NoBody)
	req.Header.Set(":protocol", "websocket")
	req.Header.Set("Sec-WebSocket-Version", "13")
	if resp, err := c.Transport.RoundTrip(req); err != nil || resp.StatusCode != 403 {
		t.Fatalf("refused upgrade: %v, %v, want 403", resp, err)
	}
}

// A WebSocket to an HTTP/2 upstream goes as an extended CONNECT: an
// HTTP/1.1 client's upgrade through one sluice whose upstream is a second
// sluice over h2c (which advertises extended CONNECT), and on from there
// to an HTTP/1.1 WebSocket origin. The client's own key is answered.
func TestWebSocketToH2Upstream(t *testing.T) {
	o := wsOrigin(t)
	inner := startService(t, static{&Peer{Addr: o.addr}}, Config{H2C: true})
	outer := startService(t, static{&Peer{Addr: inner.addr, Protocol: H2C}}, Config{})
	c := dialProxy(t, outer.addr)
	c.c.SetDeadline(time.Now().Add(safety))
	const key = "dGhlIHNhbXBsZSBub25jZQ=="
	c.send("GET /chat HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: " + key + "\r\nSec-WebSocket-Version: 13\r\n\r\n")
	resp, err := http.ReadResponse(c.r, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 101 || resp.Header.Get("Sec-WebSocket-Accept") != webSocketAccept(key) || !strings.EqualFold(resp.Header.Get("Upgrade"), "websocket") {
		t.Fatalf("upgrade through an h2 upstream: %d %v; logged %v", resp.StatusCode, resp.Header, outer.request(t))
	}
	got := make([]byte, 3)
	if _, err := io.ReadFull(c.r, got); err != nil || string(got) != "ws:" {
		t.Fatalf("first bytes: %q, %v", got, err)
	}
	for _, msg := range []string{"hello", "again"} {
		c.send(msg)
		got := make([]byte, len(msg))
		if _, err := io.ReadFull(c.r, got); err != nil || string(got) != msg {
			t.Fatalf("echo of %q: %q, %v", msg, got, err)
		}
	}
}
