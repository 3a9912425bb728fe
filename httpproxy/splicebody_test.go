package httpproxy

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"testing"

	"github.com/sluice-proxy/sluice/splice"
)

// A large Content-Length body moves with splice(2) past what came with the
// head: byte for byte, counted, and with both connections reusable after.
// With SpliceBody negative the same bodies go through user space.
func TestSpliceBody(t *testing.T) {
	body := bytes.Repeat([]byte("0123456789abcdef"), 1<<17) // 2 MiB
	for _, tt := range []struct {
		name       string
		spliceBody int64
		spliced    bool
	}{
		{"default", 0, true},
		{"never", -1, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			up := newOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Length", strconv.Itoa(len(body)))
				w.Write(body)
			}))
			h := startService(t, static{&Peer{Addr: up.addr}}, Config{SpliceBody: tt.spliceBody})
			c := dialProxy(t, h.addr)
			before := splice.Default().Stats().SplicedBytes
			for i := 0; i < 2; i++ {
				c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
				resp, got := c.response("GET")
				if resp.StatusCode != 200 || got != string(body) {
					t.Fatalf("request %d: %d with %d body bytes, want 200 with %d", i, resp.StatusCode, len(got), len(body))
				}
				if l := h.request(t); l["response_body_bytes"] != strconv.Itoa(len(body)) {
					t.Fatalf("request %d logged %q response body bytes, want %d", i, l["response_body_bytes"], len(body))
				}
			}
			spliced := splice.Default().Stats().SplicedBytes - before
			if tt.spliced && spliced < int64(len(body)) {
				t.Errorf("spliced %d bytes over two %d-byte bodies, want most of them", spliced, len(body))
			}
			if !tt.spliced && spliced != 0 {
				t.Errorf("spliced %d bytes with SpliceBody < 0", spliced)
			}
			if n := up.conns.Load(); n != 1 {
				t.Errorf("the origin saw %d connections, want 1 (reused after the body)", n)
			}
		})
	}
}

// An upstream that closes mid-body: the client gets a short body and a
// closed connection, the request is logged as failed upstream.
func TestSpliceBodyUpstreamCloses(t *testing.T) {
	up := rawOrigin(t, func(c net.Conn) {
		defer c.Close()
		br := bufio.NewReader(c)
		for {
			line, err := br.ReadString('\n')
			if err != nil || line == "\r\n" {
				break
			}
		}
		fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n", 4<<20)
		c.Write(bytes.Repeat([]byte("x"), 1<<20))
	})
	h := startService(t, static{&Peer{Addr: up}}, Config{})
	c := dialProxy(t, h.addr)
	c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, err := http.ReadResponse(c.r, &http.Request{Method: "GET"})
	if err != nil {
		t.Fatal(err)
	}
	n, err := io.Copy(io.Discard, resp.Body)
	if err == nil || n >= 4<<20 {
		t.Fatalf("read %d body bytes, %v; want a short body and an error", n, err)
	}
	if l := h.request(t); l["kind"] != "upstream_closed" {
		t.Fatalf("logged kind %q, want upstream_closed", l["kind"])
	}
}
