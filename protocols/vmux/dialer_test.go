package vmux

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"testing"

	"github.com/sluice-proxy/sluice/vstream"
)

func TestDialer(t *testing.T) {
	vl := vstream.NewListener(nil, 8)
	go serveEcho(vl)
	ctx, cancel := context.WithCancel(context.Background())
	addr, done := startServe(t, ctx, vl, Config{})
	defer func() {
		cancel()
		<-done
		vl.Close()
	}()
	var dials int
	var mu sync.Mutex
	d := &Dialer{Dial: func(ctx context.Context, addr string) (net.Conn, error) {
		mu.Lock()
		dials++
		mu.Unlock()
		var nd net.Dialer
		return nd.DialContext(ctx, "tcp", addr)
	}}
	defer d.Close()
	dial := vstream.DialFunc(d)
	var wg sync.WaitGroup
	var sessions sync.Map
	for i := range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := dial(context.Background(), addr)
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			sessions.Store(c.(*Stream).Session(), true)
			msg := fmt.Sprint("hello ", i)
			c.Write([]byte(msg))
			c.(vstream.Stream).CloseWrite()
			buf := make([]byte, 64)
			n, _ := c.Read(buf)
			if string(buf[:n]) != msg {
				t.Errorf("echo %q, want %q", buf[:n], msg)
			}
		}()
	}
	wg.Wait()
	n := 0
	sessions.Range(func(_, _ any) bool { n++; return true })
	if n != 1 || dials != 1 {
		t.Fatalf("%d sessions from %d dials for 10 streams to one address, want 1", n, dials)
	}

	// A session that ends is replaced on the next dial.
	var old *Session
	sessions.Range(func(k, _ any) bool { old = k.(*Session); return false })
	old.Close()
	c, err := d.DialStream(context.Background(), addr)
	if err != nil {
		t.Fatal(err)
	}
	if c.(*Stream).Session() == old || dials != 2 {
		t.Fatalf("dial after the session ended reused it (%d dials)", dials)
	}
	c.Close()

	// Dial errors are returned, not cached.
	if _, err := d.DialStream(context.Background(), "127.0.0.1:1"); err == nil {
		t.Fatal("dial to a closed port succeeded")
	}
	d.Close()
	if _, err := d.DialStream(context.Background(), addr); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("dial after Close = %v", err)
	}
}
