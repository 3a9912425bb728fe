package http1_test

import (
	"fmt"
	"io"
	"strings"

	"github.com/sluice-proxy/sluice/protocols/http1"
)

// A server reads pipelined requests from one connection with one Reader and
// one Request, reading each body to its end before the next head.
func Example() {
	conn := strings.NewReader("GET /a HTTP/1.1\r\nHost: example.com\r\n\r\n" +
		"POST /b HTTP/1.1\r\nHost: example.com\r\nTransfer-Encoding: chunked\r\n\r\n" +
		"5\r\nhello\r\n0\r\nChecksum: 1\r\n\r\n" +
		"GET /c HTTP/1.1\r\nHost: example.com\r\nContent-Length: 5, 5\r\n\r\n")
	rd := http1.NewReader(conn, http1.Limits{})
	var req http1.Request
	for {
		err := rd.ReadRequest(&req)
		if err == io.EOF {
			return
		}
		if err != nil {
			fmt.Println("answer", http1.StatusOf(err), "and close:", err)
			return
		}
		body := rd.Body(req.Framing, req.ContentLength)
		data, err := io.ReadAll(body)
		if err != nil {
			fmt.Println("body:", err)
			return
		}
		fmt.Printf("%s %s host=%s framing=%v body=%q trailers=%d\n",
			req.Method, req.Target, req.Host, req.Framing, data, body.Trailers().Len())
	}
	// Output:
	// GET /a host=example.com framing=no body body="" trailers=0
	// POST /b host=example.com framing=chunked body="hello" trailers=1
	// answer 400 and close: http1: invalid Content-Length: "5, 5"
}

// A proxy reads an upstream response for the method it sent, skipping
// interim responses, and re-frames the body as chunked with AppendChunk.
func ExampleReader_ReadResponse() {
	upstream := strings.NewReader("HTTP/1.1 100 Continue\r\n\r\n" +
		"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil close")
	rd := http1.NewReader(upstream, http1.Limits{})
	var resp http1.Response
	for {
		if err := rd.ReadResponse(&resp, []byte("POST")); err != nil {
			fmt.Println(err)
			return
		}
		if resp.Status >= 200 {
			break
		}
	}
	fmt.Println(resp.Status, resp.Framing, resp.KeepAlive)
	resp.Header.Set("Transfer-Encoding", "chunked")
	out := resp.AppendHead(nil)
	body := rd.Body(resp.Framing, resp.ContentLength)
	for {
		p, err := body.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			fmt.Println(err)
			return
		}
		out = http1.AppendChunk(out, p)
	}
	out = http1.AppendLastChunk(out, nil)
	fmt.Printf("%q\n", out)
	// Output:
	// 200 until close false
	// "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\nb\r\nuntil close\r\n0\r\n\r\n"
}
