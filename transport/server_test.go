package transport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/sluice-proxy/sluice/connfilter"
	"github.com/sluice-proxy/sluice/vstream"
)

// runServer starts s.Serve and, at cleanup, shuts it down and checks that
// Serve returned nil and no handler is left. The func it returns waits for
// Serve and gives its result.
func runServer(t *testing.T, s *Server) (serveErr func() error) {
	t.Helper()
	if s.Listener == nil {
		s.Listener = listen(t, &ListenConfig{Network: "tcp", Address: "127.0.0.1:0"})
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(context.Background()) }()
	serveErr = sync.OnceValue(func() error { return <-done })
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("cleanup Shutdown: %v", err)
		}
		if err := serveErr(); err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return serveErr
}

func dial(t *testing.T, ln net.Listener) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// readAll reads c to EOF.
func readAll(t *testing.T, c net.Conn) string {
	t.Helper()
	b, err := io.ReadAll(c)
	if err != nil && !errors.Is(err, syscall.ECONNRESET) {
		t.Fatal(err)
	}
	return string(b)
}

func TestServerServes(t *testing.T) {
	mc := connfilter.NewMaxConns(10)
	infos := make(chan connfilter.Info, 1)
	s := &Server{
		Name: "web",
		Filter: connfilter.Chain(mc, connfilter.Func(func(_ context.Context, in *connfilter.Info) (func(), error) {
			infos <- *in
			return nil, nil
		})),
		Handler: func(ctx context.Context, c net.Conn, d *vstream.Digest, release func()) {
			defer release()
			defer c.Close()
			fmt.Fprintf(c, "%s %s %s %v %d", d.Listener, d.RemoteAddr, d.Client(), d.AcceptTime.IsZero(), mc.Count())
		},
	}
	runServer(t, s)
	c := dial(t, s.Listener)
	got := readAll(t, c)
	local := c.LocalAddr().(*net.TCPAddr).AddrPort()
	if want := fmt.Sprintf("web %s %s false 1", local, local); got != want {
		t.Fatalf("handler saw %q, want %q", got, want)
	}
	in := <-infos
	want := connfilter.Info{
		Listener: "web",
		Local:    s.Listener.Addr().(*net.TCPAddr).AddrPort(),
		Peer:     local,
		Client:   local,
		Stage:    connfilter.StageAccept,
	}
	if in != want {
		t.Fatalf("filter saw %+v, want %+v", in, want)
	}
	shutdown(t, s)
	if mc.Count() != 0 {
		t.Fatalf("MaxConns.Count() = %d after the handler released, want 0", mc.Count())
	}
}

// shutdown drains s.
func shutdown(t *testing.T, s *Server) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if n := s.Active(); n != 0 {
		t.Fatalf("Active() = %d after Shutdown", n)
	}
}

func TestServerReject(t *testing.T) {
	cidr, err := connfilter.NewCIDR(nil, []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")})
	if err != nil {
		t.Fatal(err)
	}
	var handled, rejected atomic.Int32
	rejects := make(chan string, 10)
	s := &Server{
		Name:   "web",
		Filter: cidr,
		Handler: func(ctx context.Context, c net.Conn, d *vstream.Digest, release func()) {
			handled.Add(1)
			c.Close()
			release()
		},
		OnReject: func(in *connfilter.Info, err error) {
			rejected.Add(1)
			rejects <- in.Listener + " " + connfilter.Reason(err)
		},
	}
	runServer(t, s)
	c := dial(t, s.Listener)
	if got := readAll(t, c); got != "" {
		t.Fatalf("refused client read %q", got)
	}
	if got := <-rejects; got != "web deny" {
		t.Fatalf("OnReject got %q", got)
	}
	shutdown(t, s)
	if handled.Load() != 0 || rejected.Load() != 1 {
		t.Fatalf("handled %d, rejected %d; want 0, 1", handled.Load(), rejected.Load())
	}
}

// TestServerSlowFilterDoesNotStallAccept blocks the filter on the first
// connection; a second client must still be accepted and served.
func TestServerSlowFilterDoesNotStallAccept(t *testing.T) {
	blocked := make(chan struct{})
	unblock := make(chan struct{})
	var first atomic.Bool
	s := &Server{
		Name:          "web",
		FilterTimeout: -1, // no deadline: only the test unblocks it
		Filter: connfilter.Func(func(ctx context.Context, in *connfilter.Info) (func(), error) {
			if first.CompareAndSwap(false, true) {
				close(blocked)
				<-unblock
			}
			return nil, nil
		}),
		Handler: func(ctx context.Context, c net.Conn, d *vstream.Digest, release func()) {
			defer release()
			defer c.Close()
			io.WriteString(c, "served")
		},
	}
	runServer(t, s)
	unblockOnce := sync.OnceFunc(func() { close(unblock) })
	t.Cleanup(unblockOnce) // runs before runServer's Shutdown
	c1 := dial(t, s.Listener)
	<-blocked
	c2 := dial(t, s.Listener)
	// A watchdog, not a timing assertion: a stalled accept loop fails the
	// test instead of hanging it.
	c2.SetReadDeadline(time.Now().Add(10 * time.Second))
	if got := readAll(t, c2); got != "served" {
		t.Fatalf("second client read %q while the first's filter was blocked", got)
	}
	unblockOnce()
	if got := readAll(t, c1); got != "served" {
		t.Fatalf("first client read %q after its filter returned", got)
	}
}

func TestServerFilterTimeout(t *testing.T) {
	for _, tc := range []struct {
		name       string
		honoursCtx bool
	}{{"filter honours ctx", true}, {"filter ignores ctx", false}} {
		t.Run(tc.name, func(t *testing.T) {
			lateReturn := make(chan struct{})
			var released, handled atomic.Int32
			reasons := make(chan string, 1)
			s := &Server{
				Name:          "web",
				FilterTimeout: 20 * time.Millisecond,
				Filter: connfilter.Func(func(ctx context.Context, in *connfilter.Info) (func(), error) {
					if tc.honoursCtx {
						<-ctx.Done()
						return nil, ctx.Err()
					}
					<-lateReturn
					return func() { released.Add(1) }, nil
				}),
				Handler: func(ctx context.Context, c net.Conn, d *vstream.Digest, release func()) {
					handled.Add(1)
					c.Close()
					release()
				},
				OnReject: func(in *connfilter.Info, err error) { reasons <- connfilter.Reason(err) },
			}
			runServer(t, s)
			c := dial(t, s.Listener)
			// At the deadline the connection is closed even while the
			// filter still runs.
			if got := readAll(t, c); got != "" {
				t.Fatalf("client read %q", got)
			}
			close(lateReturn)
			if got := <-reasons; got != "filter_timeout" {
				t.Fatalf("reason %q, want filter_timeout", got)
			}
			shutdown(t, s)
			if handled.Load() != 0 {
				t.Fatal("handler ran for a timed-out filter")
			}
			if !tc.honoursCtx && released.Load() != 1 {
				t.Fatalf("late filter's release called %d times, want 1", released.Load())
			}
		})
	}
}

func TestServerAwaitingProxy(t *testing.T) {
	perIP := connfilter.NewMaxConnsPerIP(1)
	var sawAwaiting atomic.Int32
	hold := make(chan struct{})
	s := &Server{
		Name: "web",
		AwaitingProxy: func(peer netip.AddrPort) bool {
			return peer.Addr() == netip.MustParseAddr("127.0.0.1")
		},
		Filter: connfilter.Chain(connfilter.Func(func(_ context.Context, in *connfilter.Info) (func(), error) {
			if in.AwaitingProxy {
				sawAwaiting.Add(1)
			}
			return nil, nil
		}), perIP),
		Handler: func(ctx context.Context, c net.Conn, d *vstream.Digest, release func()) {
			defer release()
			defer c.Close()
			io.WriteString(c, "x")
			<-hold
		},
	}
	runServer(t, s)
	// Two connections from one address, with a per-IP limit of 1: both
	// pass, because the peer is a proxy and the real client is not known.
	c1, c2 := dial(t, s.Listener), dial(t, s.Listener)
	for _, c := range []net.Conn{c1, c2} {
		b := make([]byte, 1)
		if _, err := io.ReadFull(c, b); err != nil {
			t.Fatalf("connection refused or dropped: %v", err)
		}
	}
	close(hold)
	shutdown(t, s)
	if sawAwaiting.Load() != 2 || perIP.Len() != 0 {
		t.Fatalf("AwaitingProxy seen %d times, per-IP table %d; want 2, 0", sawAwaiting.Load(), perIP.Len())
	}
}

func TestServerShutdownDrains(t *testing.T) {
	entered := make(chan struct{})
	release := make(chan struct{})
	var finished atomic.Bool
	s := &Server{
		Name:     "web",
		Listener: listen(t, &ListenConfig{Network: "tcp", Address: "127.0.0.1:0"}),
		Handler: func(ctx context.Context, c net.Conn, d *vstream.Digest, rel func()) {
			defer rel()
			defer c.Close()
			close(entered)
			<-release
			finished.Store(true)
		},
	}
	serveDone := make(chan error, 1)
	go func() { serveDone <- s.Serve(context.Background()) }()
	dial(t, s.Listener)
	<-entered

	type result struct {
		err      error
		finished bool
	}
	shutDone := make(chan result, 1)
	go func() {
		err := s.Shutdown(context.Background())
		shutDone <- result{err, finished.Load()}
	}()
	// Shutdown closes the listener at once: Serve returns and new
	// connections are refused while the handler still runs.
	if err := <-serveDone; err != nil {
		t.Fatalf("Serve: %v", err)
	}
	if c, err := net.Dial("tcp", s.Listener.Addr().String()); err == nil {
		c.Close()
		t.Fatal("dial succeeded after Shutdown closed the listener")
	}
	if s.Active() != 1 {
		t.Fatalf("Active() = %d, want 1", s.Active())
	}
	close(release)
	r := <-shutDone
	if r.err != nil {
		t.Fatalf("Shutdown: %v", r.err)
	}
	if !r.finished {
		t.Fatal("Shutdown returned before the handler finished")
	}
}

func TestServerShutdownDeadline(t *testing.T) {
	entered := make(chan struct{})
	handlerErr := make(chan error, 1)
	s := &Server{
		Name: "web",
		Handler: func(ctx context.Context, c net.Conn, d *vstream.Digest, rel func()) {
			defer rel()
			defer c.Close()
			close(entered)
			<-ctx.Done() // only a cancelled context ends this handler
			handlerErr <- ctx.Err()
		},
	}
	runServer(t, s)
	dial(t, s.Listener)
	<-entered
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := s.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown = %v, want context.DeadlineExceeded", err)
	}
	// Running out of time cancels the handlers' context.
	if err := <-handlerErr; !errors.Is(err, context.Canceled) {
		t.Fatalf("handler ctx error %v, want context.Canceled", err)
	}
	shutdown(t, s)
}

func TestServerEndsWhenListenerClosed(t *testing.T) {
	s := &Server{Name: "web", Handler: func(context.Context, net.Conn, *vstream.Digest, func()) {}}
	serveErr := runServer(t, s)
	s.Listener.Close()
	if err := serveErr(); err != nil {
		t.Fatalf("Serve = %v after the listener closed, want nil", err)
	}
}

func TestServerEndsWhenContextDone(t *testing.T) {
	s := &Server{
		Name:     "web",
		Listener: listen(t, &ListenConfig{Network: "tcp", Address: "127.0.0.1:0"}),
		Handler:  func(context.Context, net.Conn, *vstream.Digest, func()) {},
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Serve = %v after its context ended, want nil", err)
	}
	if c, err := net.Dial("tcp", s.Listener.Addr().String()); err == nil {
		c.Close()
		t.Fatal("listener still open after Serve's context ended")
	}
	shutdown(t, s)
}

func TestServerMisuse(t *testing.T) {
	if err := (&Server{}).Serve(context.Background()); err == nil {
		t.Fatal("Serve without Listener and Handler succeeded")
	}
	// Shutdown before Serve: Serve then returns nil at once, and the
	// listener is closed.
	s := &Server{
		Listener: listen(t, &ListenConfig{Network: "tcp", Address: "127.0.0.1:0"}),
		Handler:  func(context.Context, net.Conn, *vstream.Digest, func()) {},
	}
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := s.Serve(context.Background()); err != nil {
		t.Fatalf("Serve after Shutdown = %v, want nil", err)
	}
	if err := s.Serve(context.Background()); err == nil {
		t.Fatal("second Serve succeeded")
	}
	if c, err := net.Dial("tcp", s.Listener.Addr().String()); err == nil {
		c.Close()
		t.Fatal("listener open after Shutdown")
	}
}

func TestServerHandlerPanic(t *testing.T) {
	mc := connfilter.NewMaxConns(5)
	logs := &recordingHandler{}
	s := &Server{
		Name:   "web",
		Filter: mc,
		Logger: slog.New(logs),
		Handler: func(ctx context.Context, c net.Conn, d *vstream.Digest, release func()) {
			panic("handler bug")
		},
	}
	runServer(t, s)
	c := dial(t, s.Listener)
	if got := readAll(t, c); got != "" {
		t.Fatalf("client read %q", got)
	}
	shutdown(t, s)
	if mc.Count() != 0 {
		t.Fatalf("MaxConns.Count() = %d after a panicking handler, want 0", mc.Count())
	}
	if msgs := logs.messages(); len(msgs) != 1 || !strings.HasPrefix(msgs[0], "ERROR panic") {
		t.Fatalf("logged %q", msgs)
	}
}

// TestServerManyClients runs many clients at once through a chain of
// counting filters; every count must be back to zero afterwards.
func TestServerManyClients(t *testing.T) {
	mc := connfilter.NewMaxConns(0)
	perIP := connfilter.NewMaxConnsPerIP(0)
	var releases atomic.Int32
	s := &Server{
		Name: "web",
		Filter: connfilter.Chain(mc, perIP, connfilter.Func(func(context.Context, *connfilter.Info) (func(), error) {
			return func() { releases.Add(1) }, nil
		})),
		Handler: func(ctx context.Context, c net.Conn, d *vstream.Digest, release func()) {
			defer release()
			defer release() // twice: the Server's release is safe to repeat
			defer c.Close()
			b := make([]byte, 16)
			n, _ := c.Read(b)
			c.Write(b[:n])
		},
	}
	runServer(t, s)
	const n = 50
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			c, err := net.Dial("tcp", s.Listener.Addr().String())
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			msg := fmt.Sprint(i)
			io.WriteString(c, msg)
			if got, _ := io.ReadAll(c); string(got) != msg {
				t.Errorf("client %d read %q", i, got)
			}
		})
	}
	wg.Wait()
	shutdown(t, s)
	if mc.Count() != 0 || perIP.Len() != 0 || releases.Load() != n {
		t.Fatalf("MaxConns %d, per-IP entries %d, releases %d; want 0, 0, %d", mc.Count(), perIP.Len(), releases.Load(), n)
	}
}
