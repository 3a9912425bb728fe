package main

import (
	"bytes"
	"context"
	"testing"
)

// TestDemo runs the demo: HTTP/1.1 on vmux streams goes through the
// httpproxy pipeline to a TCP origin, a stream per request when the client
// opens one each, one stream for several requests when it keeps it alive.
func TestDemo(t *testing.T) {
	var out bytes.Buffer
	if err := runDemo(context.Background(), &out); err != nil {
		t.Fatal(err)
	}
	want := `GET /parallel/0 -> 200 OK origin saw GET /parallel/0, Via: 1.1 sluice (over vmux)
GET /parallel/1 -> 200 OK origin saw GET /parallel/1, Via: 1.1 sluice (over vmux)
GET /parallel/2 -> 200 OK origin saw GET /parallel/2, Via: 1.1 sluice (over vmux)
3 requests at once: 3 vmux streams over one TCP connection
GET /keepalive/0 -> 200 OK origin saw GET /keepalive/0, Via: 1.1 sluice (over vmux)
GET /keepalive/1 -> 200 OK origin saw GET /keepalive/1, Via: 1.1 sluice (over vmux)
GET /keepalive/2 -> 200 OK origin saw GET /keepalive/2, Via: 1.1 sluice (over vmux)
3 requests in turn: 1 vmux stream, kept alive
`
	if out.String() != want {
		t.Fatalf("demo printed:\n%s\nwant:\n%s", out.String(), want)
	}
}
