package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"

	"github.com/sluice-proxy/sluice/vstream"
)

func TestDemo(t *testing.T) {
	var out bytes.Buffer
	if err := runDemo(context.Background(), &out); err != nil {
		t.Fatal(err)
	}
	want := "sent \"hello, virtual upstream\" over TCP, the in-process upstream answered \"HELLO, VIRTUAL UPSTREAM\"\n"
	if out.String() != want {
		t.Fatalf("demo printed %q, want %q", out.String(), want)
	}
}

// TestVirtualBothSides serves the same proxy on a vstream.Listener whose
// streams are in-memory pipes, with addresses that are not IP addresses:
// tcpproxy (its accept loop, filters, hash key, relay) must take them.
func TestVirtualBothSides(t *testing.T) {
	p, stopService, err := newProxy(slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer stopService()
	front := vstream.NewListener(vstream.Addr{Net: "mem", Name: "front"}, 4)
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- p.Serve(ctx, front) }()

	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := front.DialStream(context.Background(), "front")
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			msg := fmt.Sprintf("client %d", i)
			c.Write([]byte(msg))
			c.CloseWrite()
			got, err := io.ReadAll(c)
			if err != nil || string(got) != fmt.Sprintf("CLIENT %d", i) {
				t.Errorf("got %q, %v", got, err)
			}
		}()
	}
	wg.Wait()
	cancel()
	if err := <-served; err != nil {
		t.Fatalf("Serve = %v", err)
	}
	if err := p.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
}
