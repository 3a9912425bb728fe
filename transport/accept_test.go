package transport

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/sluice-proxy/sluice/vstream"
)

// scriptListener is a net.Listener whose Accept plays a script of results,
// then blocks until Close.
type scriptListener struct {
	mu     sync.Mutex
	script []func() (net.Conn, error)
	calls  int
	closed chan struct{}
	once   sync.Once
}

func newScriptListener(script ...func() (net.Conn, error)) *scriptListener {
	return &scriptListener{script: script, closed: make(chan struct{})}
}

func (l *scriptListener) Accept() (net.Conn, error) {
	l.mu.Lock()
	l.calls++
	if len(l.script) > 0 {
		f := l.script[0]
		l.script = l.script[1:]
		l.mu.Unlock()
		return f()
	}
	l.mu.Unlock()
	<-l.closed
	return nil, net.ErrClosed
}

func (l *scriptListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return nil
}

func (l *scriptListener) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)} }

func (l *scriptListener) Calls() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.calls
}

var _ net.Listener = (*scriptListener)(nil)

// acceptErr is what Go's net package returns when accept(2) fails.
func acceptErr(errno syscall.Errno) func() (net.Conn, error) {
	return func() (net.Conn, error) {
		return nil, &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", errno)}
	}
}

// pipeConn returns a script step yielding one end of a pipe whose other end
// is closed, so a handler's writes fail fast instead of blocking.
func pipeConn() func() (net.Conn, error) {
	return func() (net.Conn, error) {
		a, b := net.Pipe()
		b.Close()
		return a, nil
	}
}

func repeat(n int, f func() (net.Conn, error)) []func() (net.Conn, error) {
	out := make([]func() (net.Conn, error), n)
	for i := range out {
		out[i] = f
	}
	return out
}

// recordingHandler is a slog.Handler that keeps the records it gets.
type recordingHandler struct {
	mu      sync.Mutex
	records []slog.Record
}

func (h *recordingHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *recordingHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.records = append(h.records, r)
	return nil
}
func (h *recordingHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *recordingHandler) WithGroup(string) slog.Handler      { return h }

func (h *recordingHandler) messages() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for _, r := range h.records {
		out = append(out, r.Level.String()+" "+r.Message)
	}
	return out
}

func ms(n int) time.Duration { return time.Duration(n) * time.Millisecond }

// TestServerBackoff plays three episodes of resource errors separated by
// successful accepts, recording the back-off waits instead of sleeping.
func TestServerBackoff(t *testing.T) {
	var script []func() (net.Conn, error)
	script = append(script, repeat(3, acceptErr(syscall.EMFILE))...)
	script = append(script, pipeConn())
	script = append(script, repeat(2, acceptErr(syscall.ENFILE))...)
	script = append(script, pipeConn())
	script = append(script, acceptErr(syscall.ENOMEM))
	script = append(script, repeat(10, acceptErr(syscall.ENOBUFS))...)
	script = append(script, pipeConn())
	ln := newScriptListener(script...)

	var waits []time.Duration
	var handled atomic.Int32
	allHandled := make(chan struct{})
	logs := &recordingHandler{}
	var hooked []error // only the accept goroutine appends
	s := &Server{
		Name:          "fake",
		Listener:      ln,
		Logger:        slog.New(logs),
		OnAcceptError: func(err error) { hooked = append(hooked, err) },
		Handler: func(ctx context.Context, c net.Conn, d *vstream.Digest, release func()) {
			defer release()
			c.Close()
			if handled.Add(1) == 3 {
				close(allHandled)
			}
		},
		backoffWait: func(_ *Server, d time.Duration) bool {
			waits = append(waits, d) // only the accept goroutine calls this
			return true
		},
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(context.Background()) }()
	<-allHandled
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("Serve = %v", err)
	}

	want := []time.Duration{
		ms(5), ms(10), ms(20), // episode 1
		ms(5), ms(10), // reset after a success: episode 2
		ms(5), ms(10), ms(20), ms(40), ms(80), ms(160), ms(320), ms(640), ms(1000), ms(1000), ms(1000), // capped
	}
	if !slices.Equal(waits, want) {
		t.Fatalf("waits %v\nwant  %v", waits, want)
	}
	// Every error was followed by a wait: 16 errors, 3 conns, and the final
	// Accept that blocked until Shutdown.
	if got := ln.Calls(); got != 16+3+1 {
		t.Fatalf("Accept called %d times, want 20", got)
	}
	if len(hooked) != 16 {
		t.Fatalf("OnAcceptError called %d times, want once per accept error (16)", len(hooked))
	}
	if !errors.Is(hooked[0], syscall.EMFILE) || !errors.Is(hooked[15], syscall.ENOBUFS) {
		t.Fatalf("OnAcceptError got %v first and %v last, want EMFILE and ENOBUFS", hooked[0], hooked[15])
	}
	msgs := logs.messages()
	if len(msgs) != 3 {
		t.Fatalf("logged %q, want one record per episode (3)", msgs)
	}
	for _, m := range msgs {
		if m != "WARN accept failed; backing off" {
			t.Fatalf("log record %q", m)
		}
	}
}

// TestServerBackoffRealTimer recovers from EMFILE with the real timer.
func TestServerBackoffRealTimer(t *testing.T) {
	ln := newScriptListener(append(repeat(2, acceptErr(syscall.EMFILE)), pipeConn())...)
	served := make(chan struct{})
	s := &Server{
		Listener: ln,
		Handler: func(ctx context.Context, c net.Conn, d *vstream.Digest, release func()) {
			defer release()
			c.Close()
			close(served)
		},
	}
	runServer(t, s)
	<-served
	if got := ln.Calls(); got < 3 {
		t.Fatalf("Accept called %d times, want ≥ 3", got)
	}
}

// TestServerBackoffInterruptedByShutdown checks that a long back-off does
// not delay Shutdown: the wait ends when the server stops.
func TestServerBackoffInterruptedByShutdown(t *testing.T) {
	ln := newScriptListener(repeat(1000, acceptErr(syscall.EMFILE))...)
	s := &Server{Listener: ln, Handler: func(context.Context, net.Conn, *vstream.Digest, func()) {}}
	waiting := make(chan struct{}, 1)
	s.backoffWait = func(s *Server, d time.Duration) bool {
		select {
		case waiting <- struct{}{}:
		default:
		}
		<-s.stopped // as the real wait, without its timer
		return false
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(context.Background()) }()
	<-waiting
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("Serve = %v", err)
	}
	if got := ln.Calls(); got != 1 {
		t.Fatalf("Accept called %d times, want 1", got)
	}
}

func TestServerAcceptFatalError(t *testing.T) {
	boom := errors.New("boom")
	ln := newScriptListener(func() (net.Conn, error) { return nil, boom })
	s := &Server{Name: "fake", Listener: ln, Handler: func(context.Context, net.Conn, *vstream.Digest, func()) {}}
	err := s.Serve(context.Background())
	if !errors.Is(err, boom) {
		t.Fatalf("Serve = %v, want an error wrapping boom", err)
	}
	select {
	case <-ln.closed:
	default:
		t.Fatal("listener left open after a fatal accept error")
	}
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestTemporaryAcceptError(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{acceptErrValue(syscall.EMFILE), true},
		{acceptErrValue(syscall.ENFILE), true},
		{acceptErrValue(syscall.ENOBUFS), true},
		{acceptErrValue(syscall.ENOMEM), true},
		{acceptErrValue(syscall.ECONNABORTED), true},
		{acceptErrValue(syscall.EBADF), false},
		{acceptErrValue(syscall.EINVAL), false},
		{net.ErrClosed, false},
		{errors.New("boom"), false},
	} {
		if got := temporaryAcceptError(tc.err); got != tc.want {
			t.Errorf("temporaryAcceptError(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

func acceptErrValue(errno syscall.Errno) error {
	_, err := acceptErr(errno)()
	return err
}
