package shell

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluice-proxy/sluice/connfilter"
	"github.com/sluice-proxy/sluice/protocols/proxyproto"
	"github.com/sluice-proxy/sluice/vstream"
)

// guard bounds waits that end by themselves when the shell works; it is no
// timing assertion.
const guard = 10 * time.Second

// start runs a Shell for cfg on a loopback listener and returns its
// address; the Shell is shut down at the end of the test.
func start(t *testing.T, cfg Config) (*Shell, string) {
	t.Helper()
	sh, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- sh.Serve(context.Background(), ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), guard)
		defer cancel()
		sh.Shutdown(ctx)
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return sh, ln.Addr().String()
}

// TestShellAdmitsFiltersAndAdopts: a connection the filter admits is
// adopted, then handed to the Handler; one it refuses is closed unread and
// counted with its reason.
func TestShellAdmitsFiltersAndAdopts(t *testing.T) {
	var adopted atomic.Int32
	rejected := make(chan string, 1)
	served := make(chan string, 1)
	deny, err := connfilter.NewCIDR(nil, []netip.Prefix{netip.MustParsePrefix("127.0.0.2/32")})
	if err != nil {
		t.Fatal(err)
	}
	_, addr := start(t, Config{
		Name:     "t",
		Filter:   deny,
		Adopt:    func(c net.Conn) net.Conn { adopted.Add(1); return c },
		OnReject: func(reason string) { rejected <- reason },
		Handler: func(ctx context.Context, c net.Conn, d *vstream.Digest) {
			defer c.Close()
			b, _ := io.ReadAll(c)
			served <- string(b) + " from " + d.Listener
		},
	})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c.Write([]byte("hello"))
	c.(*net.TCPConn).CloseWrite()
	if got := <-served; got != "hello from t" {
		t.Fatalf("Handler got %q", got)
	}
	c.Close()
	if adopted.Load() != 1 {
		t.Fatalf("Adopt called %d times, want 1", adopted.Load())
	}
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}}
	bad, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer bad.Close()
	select {
	case reason := <-rejected:
		if reason != "deny" {
			t.Fatalf("rejected with %q, want deny", reason)
		}
	case <-time.After(guard):
		t.Fatal("the denied connection was never counted")
	}
	bad.SetReadDeadline(time.Now().Add(guard))
	if _, err := bad.Read(make([]byte, 1)); err == nil {
		t.Fatal("a denied connection was served")
	}
}

// TestShellProxyHeader: with ProxyIn, the Handler sees the client the
// PROXY header names; a peer that sends HTTP instead is refused, counted as
// proxy_missing.
func TestShellProxyHeader(t *testing.T) {
	rejected := make(chan string, 1)
	served := make(chan string, 1)
	_, addr := start(t, Config{
		Name:     "t",
		ProxyIn:  &proxyproto.Acceptor{Trusted: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}},
		OnReject: func(reason string) { rejected <- reason },
		Handler: func(ctx context.Context, c net.Conn, d *vstream.Digest) {
			defer c.Close()
			served <- d.ClientAddr.String()
		},
	})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte("PROXY TCP4 192.0.2.7 192.0.2.1 4000 80\r\n"))
	if got := <-served; got != "192.0.2.7:4000" {
		t.Fatalf("Handler saw client %q, want 192.0.2.7:4000", got)
	}
	g, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	g.Write([]byte("GET / HTTP/1.1\r\n\r\n"))
	if reason := <-rejected; reason != "proxy_missing" {
		t.Fatalf("rejected with %q, want proxy_missing", reason)
	}
}

// TestShellShutdownDrainsThenCancels: Shutdown waits for a connection in
// hand and, when its context ends first, cancels the handler's context
// and returns the context's error once the handler has returned.
func TestShellShutdownDrainsThenCancels(t *testing.T) {
	entered := make(chan struct{})
	var cancelled atomic.Bool
	sh, addr := start(t, Config{
		Name: "t",
		Handler: func(ctx context.Context, c net.Conn, d *vstream.Digest) {
			defer c.Close()
			close(entered)
			<-ctx.Done()
			cancelled.Store(true)
		},
	})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	<-entered
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // no grace at all
	if err := sh.Shutdown(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Shutdown = %v, want context.Canceled", err)
	}
	if !cancelled.Load() {
		t.Fatal("Shutdown returned before the handler did")
	}
	if !sh.Draining() {
		t.Fatal("Draining false after Shutdown")
	}
}

func TestNewNeedsHandler(t *testing.T) {
	if _, err := New(Config{Name: "t"}); err == nil {
		t.Fatal("New without a Handler succeeded")
	}
}
