package main

import (
	"bytes"
	"context"
	"testing"
)

// TestDemo runs the demo: vmux streams through tcpproxy, served on a
// vstream.Listener, to a TCP echo upstream.
func TestDemo(t *testing.T) {
	var out bytes.Buffer
	if err := runDemo(context.Background(), &out); err != nil {
		t.Fatal(err)
	}
	want := `sent "hello 0", got "hello 0"
sent "hello 1", got "hello 1"
sent "hello 2", got "hello 2"
3 streams over one connection, 21 bytes each way
`
	if out.String() != want {
		t.Fatalf("demo printed:\n%s\nwant:\n%s", out.String(), want)
	}
}
