package vmux

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluice-proxy/sluice/vstream"
)

// maxStreamID is the largest stream id; ids have 31 bits.
const maxStreamID = 1<<31 - 1

// abortFlushTimeout bounds how long a session that ends because of a bad
// peer waits for its GOAWAY to be written before closing the connection.
const abortFlushTimeout = time.Second

// Session is one end of a vmux connection: many bidirectional streams over
// one net.Conn. Either side opens streams with Open and takes the peer's
// with Accept. A Session is safe for concurrent use.
type Session struct {
	conn   net.Conn
	cfg    Config
	client bool
	base   *vstream.Digest // cloned into each stream's Digest

	hello chan struct{} // closed once the peer's HELLO has arrived
	peer  Hello         // the peer's settings; set before hello closes

	peerMaxFrame atomic.Uint32 // peer.MaxFrameSize, for the writer

	mu          sync.Mutex
	streams     map[uint32]*Stream
	nextID      uint32 // the id of the next stream this side opens
	lastPeerID  uint32 // the highest id the peer opened
	inbound     int    // open streams the peer opened
	outbound    int    // open streams this side opened
	goAwaySent  bool
	goAwayRecv  bool
	closing     bool          // a final GOAWAY is queued; the session ends after it
	idle        chan struct{} // closed when no stream is left after GOAWAY
	acceptQ     []*Stream
	acceptReady chan struct{} // a token when acceptQ may be non-empty
	pings       map[uint64]chan struct{}
	pingSeq     uint64

	w writer

	done     chan struct{}
	finished chan struct{} // closed once OnClose has returned
	once     sync.Once
	err      error // why the session ended; set before done closes
	counters counters
}

// Client starts the client side of a session over conn: the side that
// dialled. It opens odd-numbered streams. The session owns conn and closes
// it when it ends.
func Client(conn net.Conn, cfg Config) *Session { return newSession(conn, cfg, true) }

// Server starts the server side of a session over conn: the side that
// accepted. It opens even-numbered streams. The session owns conn and
// closes it when it ends.
func Server(conn net.Conn, cfg Config) *Session { return newSession(conn, cfg, false) }

func newSession(conn net.Conn, cfg Config, client bool) *Session {
	cfg = cfg.withDefaults()
	s := &Session{
		conn:        conn,
		cfg:         cfg,
		client:      client,
		base:        baseDigest(conn),
		hello:       make(chan struct{}),
		streams:     make(map[uint32]*Stream),
		acceptReady: make(chan struct{}, 1),
		pings:       make(map[uint64]chan struct{}),
		done:        make(chan struct{}),
		finished:    make(chan struct{}),
	}
	s.nextID = 2
	if client {
		s.nextID = 1
	}
	s.w.init(s)
	hello := HelloFrame(Hello{Window: uint32(cfg.Window), MaxFrameSize: uint32(cfg.MaxFrameSize), MaxStreams: uint32(cfg.MaxStreams)})
	s.w.ctrl = AppendFrame(s.w.ctrl, hello)
	s.w.ctrlFrames++
	go s.readLoop()
	go s.writeLoop()
	signal(s.w.wake)
	return s
}

// baseDigest is what the Digests of a session's streams start from: a
// clone of conn's own Digest when it has one, else one built from its
// addresses.
func baseDigest(conn net.Conn) *vstream.Digest {
	if dc, ok := conn.(vstream.Digester); ok {
		if d := dc.Digest(); d != nil {
			return d.Clone()
		}
	}
	return vstream.NewDigest("", conn)
}

// signal leaves a wake-up token in c unless one is there already.
func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// Open opens a new stream. It waits for the peer's HELLO (bounded by ctx
// and Config.HandshakeTimeout) and fails with ErrGoAway once either side
// sent GOAWAY, with ErrTooManyStreams when the peer's stream limit is
// reached, and with the session's error once it has ended.
//
// The peer learns of the stream at once (vmux sends OPEN without waiting for
// data), so server-first protocols work over it.
func (s *Session) Open(ctx context.Context) (*Stream, error) {
	select {
	case <-s.hello:
	case <-s.done:
		return nil, s.Err()
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.isDone():
		return nil, s.err
	case s.goAwaySent || s.goAwayRecv || s.closing:
		return nil, fmt.Errorf("vmux: open: %w", ErrGoAway)
	case s.outbound >= int(s.peer.MaxStreams):
		return nil, fmt.Errorf("vmux: open: %w: the peer allows %d", ErrTooManyStreams, s.peer.MaxStreams)
	case s.nextID > maxStreamID:
		return nil, fmt.Errorf("vmux: open: %w: stream ids used up", ErrTooManyStreams)
	}
	id := s.nextID
	s.nextID += 2
	st := newStream(s, id)
	s.streams[id] = st
	s.outbound++
	// Queued under s.mu, so OPENs go out in id order.
	if err := s.w.enqueue(wreq{kind: reqOpen, id: id}); err != nil {
		delete(s.streams, id)
		s.outbound--
		return nil, err
	}
	s.counters.opened.Add(1)
	return st, nil
}

// OpenStream is Open with a vstream.Stream result.
func (s *Session) OpenStream(ctx context.Context) (vstream.Stream, error) {
	st, err := s.Open(ctx)
	if err != nil {
		return nil, err
	}
	return st, nil
}

// DialStream opens a stream, so that a Session is a vstream.Dialer: an
// upstream reached through a vmux connection. addr is not used: every
// stream goes to the peer.
func (s *Session) DialStream(ctx context.Context, addr string) (vstream.Stream, error) {
	return s.OpenStream(ctx)
}

// Accept waits for a stream opened by the peer. It fails when ctx ends or
// with the session's error once the session has ended.
func (s *Session) Accept(ctx context.Context) (*Stream, error) {
	for {
		s.mu.Lock()
		if n := len(s.acceptQ); n > 0 {
			st := s.acceptQ[0]
			s.acceptQ[0] = nil
			s.acceptQ = s.acceptQ[1:]
			s.mu.Unlock()
			if n > 1 {
				signal(s.acceptReady)
			}
			return st, nil
		}
		s.mu.Unlock()
		select {
		case <-s.acceptReady:
		case <-s.done:
			return nil, s.Err()
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// Ping sends a PING and waits for its answer, returning the round-trip
// time.
func (s *Session) Ping(ctx context.Context) (time.Duration, error) {
	s.mu.Lock()
	s.pingSeq++
	seq := s.pingSeq
	ch := make(chan struct{})
	s.pings[seq] = ch
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.pings, seq)
		s.mu.Unlock()
	}()
	start := time.Now()
	if err := s.w.queueCtrl(PingFrame(seq, false)); err != nil {
		return 0, err
	}
	select {
	case <-ch:
		return time.Since(start), nil
	case <-s.done:
		return 0, s.Err()
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// GoAway tells the peer that this side accepts no new streams, and stops
// opening its own. Streams already open go on; the session closes itself
// once none is left. It is what a graceful shutdown starts with.
func (s *Session) GoAway() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.isDone() {
		return s.err
	}
	if s.goAwaySent {
		return nil
	}
	s.goAwaySent = true
	if err := s.w.queueCtrl(GoAwayFrame(s.lastPeerID, CodeNone, "")); err != nil {
		return err
	}
	s.checkIdleLocked()
	return nil
}

// Shutdown sends GOAWAY and waits until no stream is left, then closes the
// session. When ctx ends first, it closes the session at once and returns
// ctx's error.
func (s *Session) Shutdown(ctx context.Context) error {
	if err := s.GoAway(); err != nil && !s.isDone() {
		return err
	}
	s.mu.Lock()
	if s.idle == nil {
		s.idle = make(chan struct{})
		if len(s.streams) == 0 {
			close(s.idle)
		}
	}
	idle := s.idle
	s.mu.Unlock()
	select {
	case <-idle:
		s.Close()
		return nil
	case <-s.done:
		return nil
	case <-ctx.Done():
		s.Close()
		return ctx.Err()
	}
}

// Close ends the session: it sends GOAWAY, closes the connection, and
// fails every open stream's pending and later operations with an error
// matching ErrSessionClosed. It returns once the session has ended.
func (s *Session) Close() error {
	s.end(fmt.Errorf("%w", ErrSessionClosed), CodeNone)
	<-s.done
	return nil
}

// Done returns a channel that is closed when the session has ended.
func (s *Session) Done() <-chan struct{} { return s.done }

// Err returns why the session ended, or nil while it runs. Reason turns it
// into a metric label.
func (s *Session) Err() error {
	select {
	case <-s.done:
		return s.err
	default:
		return nil
	}
}

func (s *Session) isDone() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// LocalAddr and RemoteAddr are the connection's addresses.
func (s *Session) LocalAddr() net.Addr { return s.conn.LocalAddr() }

// RemoteAddr returns the connection's remote address.
func (s *Session) RemoteAddr() net.Addr { return s.conn.RemoteAddr() }

// end queues a final GOAWAY carrying code and err's text ("idle" for
// ErrIdleTimeout; none for other ends with CodeNone) unless a GOAWAY was
// already sent and code is CodeNone, and ends the session with err once it
// is written, or after abortFlushTimeout when the peer does not read.
func (s *Session) end(err error, code Code) {
	if s.isDone() {
		return
	}
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return
	}
	s.closing = true
	last, sent := s.lastPeerID, s.goAwaySent
	s.goAwaySent = true
	s.mu.Unlock()
	var f *Frame
	if !sent || code != CodeNone {
		reason := ""
		switch {
		case code != CodeNone:
			reason = err.Error()
		case errors.Is(err, ErrIdleTimeout):
			reason = "idle"
		}
		g := GoAwayFrame(last, code, reason)
		f = &g
	}
	if !s.w.finish(f, err) {
		s.fail(err)
		return
	}
	t := time.AfterFunc(abortFlushTimeout, func() { s.fail(err) })
	go func() {
		<-s.done
		t.Stop()
	}()
}

// fail ends the session with err at once: it closes the connection and
// wakes every waiting operation.
func (s *Session) fail(err error) {
	s.once.Do(func() {
		s.mu.Lock()
		s.err = err
		s.mu.Unlock()
		close(s.done)
		s.conn.Close()
		if s.cfg.OnClose != nil {
			s.cfg.OnClose(s, err)
		}
		close(s.finished)
	})
}

// release forgets a stream that is finished in both directions.
func (s *Session) release(st *Stream) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.streams[st.id] != st {
		return
	}
	delete(s.streams, st.id)
	if s.peerOpened(st.id) {
		s.inbound--
	} else {
		s.outbound--
	}
	s.checkIdleLocked()
}

// checkIdleLocked ends a session that has gone away once its last stream
// is done. Called with s.mu held.
func (s *Session) checkIdleLocked() {
	if len(s.streams) != 0 || !(s.goAwaySent || s.goAwayRecv) {
		return
	}
	if s.idle != nil {
		select {
		case <-s.idle:
		default:
			close(s.idle)
		}
	}
	if !s.closing {
		go s.end(fmt.Errorf("%w: no streams left after GOAWAY", ErrSessionClosed), CodeNone)
	}
}

// peerOpened reports whether id belongs to a stream the peer opens.
func (s *Session) peerOpened(id uint32) bool {
	return id%2 == 1 != s.client
}

// known reports whether id is a stream that was opened, by either side,
// and so may have been released. Called with s.mu held.
func (s *Session) knownLocked(id uint32) bool {
	if s.peerOpened(id) {
		return id <= s.lastPeerID
	}
	return id < s.nextID
}

// streamErr is the error of a stream operation after the session ended.
func (s *Session) streamErr() error {
	if err := s.Err(); err != nil {
		return err
	}
	return io.ErrUnexpectedEOF
}
