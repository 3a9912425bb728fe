package tcpproxy

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sync"
	"testing"

	"github.com/sluice-proxy/sluice/lb"
	"github.com/sluice-proxy/sluice/vstream"
)

// virtualUpstream is an in-process service behind a vstream.Listener. Each
// stream is read to EOF (reported on got), answered with answer, and
// half-closed; the Write's error is reported on wrote, so a proxy that
// closed the upstream instead of half-closing it is seen. The service stops
// when the test ends.
type virtualUpstream struct {
	ln    *vstream.Listener
	got   chan []byte
	wrote chan error
}

func newVirtualUpstream(t *testing.T, name string, answer []byte) *virtualUpstream {
	t.Helper()
	u := &virtualUpstream{
		ln:    vstream.NewListener(vstream.Addr{Net: "vstream", Name: name}, 0),
		got:   make(chan []byte, 1),
		wrote: make(chan error, 1),
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			s, err := u.ln.AcceptStream(context.Background())
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer s.Close()
				b, _ := io.ReadAll(s) // returns at the client's half-close
				u.got <- b
				_, err := s.Write(answer)
				if err == nil {
					err = s.CloseWrite()
				}
				u.wrote <- err
				io.Copy(io.Discard, s) // until the proxy closes its end
			}()
		}
	}()
	t.Cleanup(func() {
		u.ln.Close()
		wg.Wait()
	})
	return u
}

// TestVirtualStreams serves a vstream.Listener and dials the upstream
// through a vstream.Dialer, with no socket on either side: the client
// half-closes after its request, the upstream reads it to EOF and answers
// on the same stream, and the client reads the answer, then EOF. Both
// directions byte-exact, the byte counters exact, and the dialer was asked
// for the balancer's address.
func TestVirtualStreams(t *testing.T) {
	for _, tc := range []struct {
		name    string
		connect func(ctx context.Context, ln *vstream.Listener) (vstream.Stream, error)
	}{
		{"Listener.DialStream", func(ctx context.Context, ln *vstream.Listener) (vstream.Stream, error) {
			return ln.DialStream(ctx, "proxy")
		}},
		{"Pipe+Deliver", func(ctx context.Context, ln *vstream.Listener) (vstream.Stream, error) {
			client, served := vstream.Pipe()
			if err := ln.Deliver(ctx, served); err != nil {
				client.Close()
				served.Close()
				return nil, err
			}
			return client, nil
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			up := payload(300<<10, 3)   // several pipe buffers each way
			down := payload(500<<10, 4) // ...so backpressure is exercised
			const name = "svc.internal:80"
			u := newVirtualUpstream(t, name, down)
			dialed := make(chan string, 1)
			dialer := vstream.DialerFunc(func(ctx context.Context, addr string) (vstream.Stream, error) {
				select {
				case dialed <- addr:
				default:
				}
				if addr != name {
					return nil, fmt.Errorf("no virtual upstream %q", addr)
				}
				return u.ln.DialStream(ctx, addr)
			})
			ln := vstream.NewListener(nil, 0)
			h := startProxyOn(t, Config{
				Balancer: balancer(t, lb.RoundRobin, name),
				Dial:     vstream.DialFunc(dialer),
			}, ln)

			c, err := tc.connect(context.Background(), ln)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			sent := make(chan error, 1)
			go func() {
				_, err := c.Write(up)
				if err == nil {
					err = c.CloseWrite()
				}
				sent <- err
			}()
			back, err := io.ReadAll(c) // the answer, then EOF
			if err != nil {
				t.Fatalf("client read: %v", err)
			}
			if err := <-sent; err != nil {
				t.Fatalf("client write: %v", err)
			}
			if addr := <-dialed; addr != name {
				t.Errorf("dialer asked for %q, want %q", addr, name)
			}
			if b := <-u.got; !bytes.Equal(b, up) {
				t.Fatalf("upstream got %d bytes, want %d byte-exact", len(b), len(up))
			}
			if err := <-u.wrote; err != nil {
				t.Fatalf("upstream answering after EOF: %v (the proxy closed instead of half-closing)", err)
			}
			if !bytes.Equal(back, down) {
				t.Fatalf("client got %d bytes, want %d byte-exact", len(back), len(down))
			}
			c.Close()
			waitIdle(t, h)
			if v := h.metric(t, "sluice_tcp_bytes_total", map[string]string{"upstream": name, "direction": "upstream"}); v != float64(len(up)) {
				t.Errorf("bytes upstream = %v, want %d", v, len(up))
			}
			if v := h.metric(t, "sluice_tcp_bytes_total", map[string]string{"upstream": name, "direction": "downstream"}); v != float64(len(down)) {
				t.Errorf("bytes downstream = %v, want %d", v, len(down))
			}
			if v := h.metric(t, "sluice_tcp_errors_total", nil); v != 0 {
				t.Errorf("errors_total = %v, want 0", v)
			}
		})
	}
}
