package transport

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluice-proxy/sluice/connfilter"
	"github.com/sluice-proxy/sluice/vstream"
)

// DefaultFilterTimeout bounds one Filter.Check when Server.FilterTimeout is 0.
const DefaultFilterTimeout = time.Second

// Server runs an accept loop: it accepts connections from Listener, judges
// each with Filter on a goroutine of its own, and hands the admitted ones to
// Handler. A goroutine that has served a connection waits a while (up to
// 1024 of them, 10 s) to serve the next one, so that a busy listener does
// not start, and grow the stack of, a goroutine per connection. Set the
// fields, then call Serve; do not change them afterwards.
type Server struct {
	// Name names the listener; it goes into connfilter.Info.Listener and
	// vstream.Digest.Listener.
	Name string
	// Listener is the source of connections. Serve closes it when it stops.
	Listener net.Listener
	// Filter judges each connection before Handler sees it; nil admits all.
	// It is asked at connfilter.StageAccept.
	Filter connfilter.Filter
	// FilterTimeout bounds one Filter.Check: 0 means DefaultFilterTimeout,
	// negative means no bound. A Check still running at the deadline has
	// its context cancelled and its connection closed at once; when it
	// returns, the connection counts as refused with reason
	// "filter_timeout", and any release it returned is called.
	FilterTimeout time.Duration
	// AwaitingProxy, when set, says whether a PROXY header is expected from
	// a peer (its result becomes connfilter.Info.AwaitingProxy). It is
	// called with the zero AddrPort for connections that are not over IP.
	AwaitingProxy func(peer netip.AddrPort) bool
	// Handler serves one admitted connection, on a goroutine of its own.
	// It owns c and must close it, and must call release (never nil; safe
	// to call more than once) when the connection ends, even if it hands c
	// on to another goroutine and returns first. ctx is cancelled when
	// Serve's context ends or a Shutdown runs out of time.
	Handler func(ctx context.Context, c net.Conn, d *vstream.Digest, release func())
	// OnReject, when set, is called once for each connection refused by the
	// filter (or whose filter failed or ran out of time), just before the
	// Server closes it. err is usually a *connfilter.RejectError;
	// connfilter.Reason(err) gives a metric label.
	OnReject func(in *connfilter.Info, err error)
	// OnAcceptError, when set, is called with each accept error the
	// Server backs off from and retries: most often a lack of descriptors
	// or memory (sluice's own, never a client's fault), or an error
	// accept(2) passes on from a connection that failed while queued. A
	// hook for metrics; it must not block.
	OnAcceptError func(err error)
	// Logger receives accept errors and recovered panics; nil discards them.
	Logger *slog.Logger

	// backoffWait waits d or until the server stops, reporting whether the
	// full time passed. Tests replace it.
	backoffWait func(s *Server, d time.Duration) bool

	mu        sync.Mutex
	serving   bool
	loopDone  chan struct{} // closed when the accept loop has returned
	stopping  bool          // Shutdown called or Serve's context ended
	stopped   chan struct{} // closed when stopping is set
	conns     int
	idle      chan struct{} // closed when conns drops to 0 while stopping
	cancelAll context.CancelFunc
	workers   workers // goroutines kept for the next connections
}

// Back-off bounds after a temporary accept error.
const (
	minBackoff = 5 * time.Millisecond
	maxBackoff = time.Second
)

// Serve accepts connections until Shutdown is called, ctx ends or the
// listener is closed, and then returns nil; it returns an error when accept
// fails for good (after closing the listener) or the Server is
// misconfigured. It does not wait for the
// handlers: call Shutdown for that (also after ctx has ended).
func (s *Server) Serve(ctx context.Context) error {
	if s.Listener == nil || s.Handler == nil {
		return errors.New("transport: Server needs a Listener and a Handler")
	}
	s.mu.Lock()
	if s.serving {
		s.mu.Unlock()
		return errors.New("transport: Serve called twice")
	}
	s.serving = true
	s.initLocked()
	if s.stopping {
		s.mu.Unlock()
		return nil
	}
	hctx, cancel := context.WithCancel(ctx)
	s.cancelAll = cancel
	s.loopDone = make(chan struct{})
	s.mu.Unlock()

	stopWatching := context.AfterFunc(ctx, s.stop)
	defer stopWatching()
	defer close(s.loopDone)
	return s.acceptLoop(hctx)
}

// initLocked makes the channels. Called with s.mu held.
func (s *Server) initLocked() {
	if s.stopped == nil {
		s.stopped = make(chan struct{})
	}
}

// stop stops accepting: it closes the listener and wakes a back-off wait.
func (s *Server) stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopLocked()
}

func (s *Server) stopLocked() {
	if s.stopping {
		return
	}
	s.initLocked()
	s.stopping = true
	close(s.stopped)
	s.workers.close()
	if s.Listener != nil {
		if err := s.Listener.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			s.logger().Warn("closing listener", "listener", s.Name, "err", err)
		}
	}
}

func (s *Server) isStopping() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stopping
}

// acceptLoop is Serve's loop. It only accepts: everything else about a
// connection happens on the connection's own goroutine.
func (s *Server) acceptLoop(ctx context.Context) error {
	var delay time.Duration
	spare := openSpare()
	defer spare.close()
	for {
		c, err := s.Listener.Accept()
		if err != nil {
			if s.isStopping() || errors.Is(err, net.ErrClosed) {
				return nil
			}
			if !temporaryAcceptError(err) {
				s.stop()
				return fmt.Errorf("transport: %s: accept: %w", s.Name, err)
			}
			if s.OnAcceptError != nil {
				s.OnAcceptError(err)
			}
			if spare.shed(s.Listener, err) {
				// A queued client was told at once; try again now, for
				// the shortage may be over.
				s.logShed(delay == 0, err)
				delay = max(delay, minBackoff)
				continue
			}
			if delay == 0 {
				delay = minBackoff
				s.logger().Warn("accept failed; backing off", "listener", s.Name, "err", err)
			} else {
				delay = min(2*delay, maxBackoff)
			}
			if !s.wait(delay) {
				return nil
			}
			spare.restore()
			continue
		}
		if delay != 0 {
			delay = 0
			spare.restore()
		}
		s.startConn(ctx, c, time.Now())
	}
}

// logShed logs the first connection shed in an episode of accept errors.
func (s *Server) logShed(first bool, err error) {
	if first {
		s.logger().Warn("accept failed; closing queued connections until descriptors are free",
			"listener", s.Name, "err", err)
	}
}

// wait sleeps d or until the server stops, reporting whether d passed.
func (s *Server) wait(d time.Duration) bool {
	if s.backoffWait != nil {
		return s.backoffWait(s, d)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-s.stopped:
		return false
	}
}

// startConn counts c and starts its goroutine. A connection accepted as
// the server stops is served too: the kernel has completed its handshake,
// so closing it would refuse a client the listener had taken (on a reload,
// the successor's socket is the same one). Shutdown waits for the accept
// loop to end before it counts what is left to drain.
func (s *Server) startConn(ctx context.Context, c net.Conn, at time.Time) {
	s.mu.Lock()
	s.conns++
	s.mu.Unlock()
	if j := (connJob{ctx, c, at}); !s.workers.hand(j) {
		go s.work(j)
	}
}

// connDone uncounts a connection whose goroutine ends.
func (s *Server) connDone() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.conns--
	if s.conns == 0 && s.idle != nil {
		close(s.idle)
		s.idle = nil
	}
}

// serveConn is the goroutine of one accepted connection: filter, Digest,
// Handler.
func (s *Server) serveConn(ctx context.Context, c net.Conn, at time.Time) {
	defer s.connDone()
	release := func() {}
	defer func() {
		// A panic in a filter or handler costs only its own connection.
		if p := recover(); p != nil {
			s.logger().Error("panic serving connection", "listener", s.Name, "peer", fmt.Sprint(c.RemoteAddr()),
				"panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			c.Close()
			release()
		}
	}()
	in := connfilter.Info{
		Listener: s.Name,
		Local:    vstream.AddrPort(c.LocalAddr()),
		Peer:     vstream.AddrPort(c.RemoteAddr()),
		Stage:    connfilter.StageAccept,
	}
	in.Client = in.Peer
	if s.AwaitingProxy != nil {
		in.AwaitingProxy = s.AwaitingProxy(in.Peer)
	}
	rel, err := s.check(ctx, c, &in)
	if err != nil {
		// Count and log before closing, so whoever sees the close can also
		// see it counted.
		if s.OnReject != nil {
			s.OnReject(&in, err)
		}
		c.Close()
		return
	}
	release = onceRelease(rel)
	d := vstream.NewDigest(s.Name, c)
	d.AcceptTime = at
	s.Handler(ctx, c, d, release)
}

// check runs the filter under its deadline.
func (s *Server) check(ctx context.Context, c net.Conn, in *connfilter.Info) (func(), error) {
	if s.Filter == nil {
		return nil, nil
	}
	timeout := s.FilterTimeout
	if timeout == 0 {
		timeout = DefaultFilterTimeout
	}
	fctx, cancel := ctx, context.CancelFunc(func() {})
	if timeout > 0 {
		fctx, cancel = context.WithTimeout(ctx, timeout)
	}
	defer cancel()
	// A filter that ignores its context must not keep the client waiting:
	// close the connection when the deadline passes.
	stopClose := context.AfterFunc(fctx, func() { c.Close() })
	rel, err := s.Filter.Check(fctx, in)
	if stopClose() && fctx.Err() == nil {
		return rel, err // finished in time
	}
	// The deadline passed (or the server is stopping): whatever the filter
	// said, the connection is refused, and may already be closed.
	if rel != nil {
		rel()
	}
	if ctx.Err() != nil {
		return nil, fmt.Errorf("transport: %s: server stopping during filter: %w", s.Name, ctx.Err())
	}
	return nil, &connfilter.RejectError{Filter: "transport", Reason: "filter_timeout", Client: in.Client.Addr().Unmap()}
}

// onceRelease returns a non-nil func calling rel at most once.
func onceRelease(rel func()) func() {
	if rel == nil {
		return func() {}
	}
	var done atomic.Bool
	return func() {
		if !done.Swap(true) {
			rel()
		}
	}
}

// Shutdown stops the Server accepting (closing its listener) and waits for
// the running handlers to return. If ctx ends first, it cancels the
// handlers' context, so they can abort, and returns ctx.Err() without
// waiting further. Shutdown may be called before, during or after Serve, and
// more than once.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.stopLocked()
	if loop := s.loopDone; loop != nil {
		s.mu.Unlock()
		select {
		case <-loop:
		case <-ctx.Done():
		}
		s.mu.Lock()
	}
	if s.conns == 0 {
		s.mu.Unlock()
		s.cancelHandlers() // none left: this only frees the context
		return nil
	}
	if s.idle == nil {
		s.idle = make(chan struct{})
	}
	idle := s.idle
	s.mu.Unlock()
	select {
	case <-idle:
		s.cancelHandlers()
		return nil
	case <-ctx.Done():
		s.cancelHandlers()
		return ctx.Err()
	}
}

// StopAccepting stops accepting (closing the Listener) and returns once
// the accept loop has ended, leaving the connections in hand running:
// Shutdown then drains them. A reload calls it on a listener whose socket a
// successor has taken over, so that from then on only the successor
// accepts.
func (s *Server) StopAccepting() {
	s.mu.Lock()
	s.stopLocked()
	loop := s.loopDone
	s.mu.Unlock()
	if loop != nil {
		<-loop
	}
}

// cancelHandlers cancels the context handed to handlers.
func (s *Server) cancelHandlers() {
	s.mu.Lock()
	cancel := s.cancelAll
	s.mu.Unlock()
	if cancel != nil {
		cancel()
	}
}

// Active returns the number of accepted connections being served: those in
// their filter or their handler.
func (s *Server) Active() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conns
}

func (s *Server) logger() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.New(slog.DiscardHandler)
}
