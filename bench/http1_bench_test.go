package bench

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/sluice-proxy/sluice/protocols/http1"
)

// The http1 benchmarks measure the codec on in-memory input, one message per
// op, with the Reader and message reused as a server reuses them, and report
// allocations per op (0 expected for heads):
//
//	HTTP1ReadRequest           a browser-like GET with 11 fields, from a stream of them
//	HTTP1ReadRequestNetHTTP    the same with net/http's http.ReadRequest, for reference
//	HTTP1ReadResponse          a typical response head (and its empty body)
//	HTTP1AppendHead            re-serialising the request head
//	HTTP1ChunkedDecode         a 64 KiB body in 16 chunks of 4 KiB, read with Next

// h1BrowserGET is a typical browser request head.
const h1BrowserGET = "GET /assets/app.js?v=3 HTTP/1.1\r\n" +
	"Host: www.example.com\r\n" +
	"User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0\r\n" +
	"Accept: */*\r\n" +
	"Accept-Language: en-GB,en;q=0.5\r\n" +
	"Accept-Encoding: gzip, deflate, br, zstd\r\n" +
	"Referer: https://www.example.com/\r\n" +
	"Connection: keep-alive\r\n" +
	"Cookie: session=3f2a9c1b7e; theme=dark\r\n" +
	"Sec-Fetch-Dest: script\r\n" +
	"Sec-Fetch-Mode: no-cors\r\n" +
	"If-None-Match: \"abc123\"\r\n\r\n"

// h1Response is a typical response head with an empty body.
const h1Response = "HTTP/1.1 200 OK\r\n" +
	"Date: Sun, 22 Nov 2026 05:03:00 GMT\r\n" +
	"Server: origin\r\n" +
	"Content-Type: application/javascript; charset=utf-8\r\n" +
	"Content-Length: 0\r\n" +
	"Cache-Control: public, max-age=31536000, immutable\r\n" +
	"ETag: \"abc123\"\r\n" +
	"Vary: Accept-Encoding\r\n" +
	"Connection: keep-alive\r\n\r\n"

// h1Cycle serves msg over and over, in reads of at most 32 KiB, like a
// connection carrying a stream of the same message.
type h1Cycle struct {
	msg []byte
	off int
}

func (c *h1Cycle) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) && n < 32<<10 {
		k := copy(p[n:], c.msg[c.off:])
		n += k
		c.off = (c.off + k) % len(c.msg)
	}
	return n, nil
}

func BenchmarkHTTP1ReadRequest(b *testing.B) {
	rd := http1.NewReader(&h1Cycle{msg: []byte(h1BrowserGET)}, http1.Limits{})
	var req http1.Request
	b.SetBytes(int64(len(h1BrowserGET)))
	b.ReportAllocs()
	for b.Loop() {
		if err := rd.ReadRequest(&req); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkHTTP1ReadRequestNetHTTP(b *testing.B) {
	br := bufio.NewReader(&h1Cycle{msg: []byte(h1BrowserGET)})
	b.SetBytes(int64(len(h1BrowserGET)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := http.ReadRequest(br); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkHTTP1ReadResponse(b *testing.B) {
	rd := http1.NewReader(&h1Cycle{msg: []byte(h1Response)}, http1.Limits{})
	var resp http1.Response
	method := []byte("GET")
	b.SetBytes(int64(len(h1Response)))
	b.ReportAllocs()
	for b.Loop() {
		if err := rd.ReadResponse(&resp, method); err != nil {
			b.Fatal(err)
		}
		if _, err := rd.Body(resp.Framing, resp.ContentLength).Next(); err != io.EOF {
			b.Fatal(err)
		}
	}
}

func BenchmarkHTTP1AppendHead(b *testing.B) {
	rd := http1.NewReader(strings.NewReader(h1BrowserGET), http1.Limits{})
	var req http1.Request
	if err := rd.ReadRequest(&req); err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 0, 1024)
	b.SetBytes(int64(len(h1BrowserGET)))
	b.ReportAllocs()
	for b.Loop() {
		buf = req.AppendHead(buf[:0])
	}
}

func BenchmarkHTTP1ChunkedDecode(b *testing.B) {
	chunk := bytes.Repeat([]byte("x"), 4<<10)
	var body []byte
	for range 16 {
		body = http1.AppendChunk(body, chunk)
	}
	body = http1.AppendLastChunk(body, nil)
	rd := http1.NewReader(&h1Cycle{msg: body}, http1.Limits{})
	b.SetBytes(16 * 4 << 10)
	b.ReportAllocs()
	for b.Loop() {
		br := rd.Body(http1.Chunked, -1)
		for {
			_, err := br.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
		}
	}
}
