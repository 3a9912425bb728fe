package httpproxy

import (
	"bufio"
	"io"
	"net/http"
	"testing"
	"time"
)

// Chunked bodies flow piece by piece both ways over HTTP/1.1: each chunk
// of the request reaches the origin, and each chunk of its answer the
// client, before the next is sent (a relay that waited for more bytes
// after a chunk's data, because its CRLF was buffered, hung here).
func TestChunkedBodiesFlowAsTheyCome(t *testing.T) {
	o := newOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		rc.EnableFullDuplex()
		w.WriteHeader(200)
		rc.Flush()
		buf := make([]byte, 64)
		for {
			n, err := r.Body.Read(buf)
			if n > 0 {
				w.Write([]byte("re:" + string(buf[:n])))
				rc.Flush()
			}
			if err != nil {
				return
			}
		}
	}))
	h := startService(t, static{&Peer{Addr: o.addr}}, Config{})
	c := dialProxy(t, h.addr)
	c.c.SetDeadline(time.Now().Add(safety))
	c.send("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
	br := bufio.NewReader(c.c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, msg := range []string{"one", "two", "six"} {
		c.send("3\r\n" + msg + "\r\n")
		got := make([]byte, 6)
		if _, err := io.ReadFull(resp.Body, got); err != nil || string(got) != "re:"+msg {
			t.Fatalf("echo of %q: %q, %v; logged %v", msg, got, err, h.request(t))
		}
	}
	c.send("0\r\n\r\n")
	if rest, err := io.ReadAll(resp.Body); err != nil || len(rest) != 0 {
		t.Fatalf("end: %q, %v", rest, err)
	}
}
