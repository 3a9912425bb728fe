package httpproxy

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluice-proxy/sluice/protocols/http1"
	"github.com/sluice-proxy/sluice/vstream"
)

// Read phases of a client connection, which pick the read deadline.
const (
	readIdle  int32 = iota // waiting for the first byte of a request
	readHead               // inside a request head
	readFirst              // waiting for the first byte of a new connection's first request
	readBody               // reading a request body
	readDone               // not reading
)

// h1conn is one client connection speaking HTTP/1.x.
type h1conn struct {
	svc *Service
	c   net.Conn
	r   *http1.Reader
	in  connReader
	wd  lazyDeadline // write deadline to the client
	// clock is a recent reading of time.Now, taken at the request's steps
	// (start, connected, first byte) and used for the deadlines between.
	clock time.Time
	wbuf  []byte
	req   http1.Request
	resp  http1.Response
	sess  Session
	// upw is the buffer requests are written upstream from; the request
	// body goroutine has its own (bodyBuf).
	upw     []byte
	bodyBuf []byte
	scratch []byte

	rq         reqState               // the current request's state, reset as a whole
	inlineBody []byte                 // a small request body, kept for retries
	up         atomic.Pointer[upConn] // the upstream connection in use, for abort
	cancel     context.CancelFunc     // ends the connection's context (abort)
	body       chan error             // outcome of the request body's stream, while one runs
	linger     bool                   // close lingering: the client may still be sending

	// phaseMu keeps RequestBodyFilter, on the body goroutine, from
	// running at the same time as the response phases (and guards
	// Session.RequestBodyBytes meanwhile). bodyLive, kept by the
	// connection's goroutine, says the body goroutine runs: only then do
	// the response phases take the lock.
	phaseMu  sync.Mutex
	bodyLive bool
}

// reqState is the state of the request being served, reset for each
// request by one assignment.
type reqState struct {
	bodyDone      bool        // the request body has been read to its end
	bodyRead      atomic.Bool // the body goroutine has read the request body to its end
	drain         atomic.Bool // the body goroutine drops the rest of the body (answered early)
	bodyStreamed  bool        // some of the request body went upstream in a stream (no retry)
	respStarted   bool        // a response head arrived from the current upstream
	upBodyDone    bool        // the current upstream's response body was read to its end
	fresh         bool        // the next connect dials instead of taking a pooled connection
	sent100       bool        // a 100 Continue went to the client
	expectRefused bool        // a final answer came to Expect: 100-continue without a 100
}

// connReader is the io.Reader under the client's http1.Reader; it keeps
// the read deadline. While the connection waits for a request the idle
// bound applies. A head that needs more than the read that brought its
// first byte is bounded by HeaderRead from its second read on (a head that
// comes whole, the usual case, costs no deadline change), and each body
// read by BodyRead.
type connReader struct {
	c         net.Conn
	to        *Timeouts
	state     atomic.Int32
	got       bool // a byte of the current head has arrived
	headBound bool // the head deadline is set
	rd        lazyDeadline
	// stop makes body reads fail at once: set by the connection's
	// goroutine to end the body goroutine's reading. Checked after the
	// deadline is moved, so a stop set with a past deadline is never lost
	// to a deadline the reader arms at the same moment.
	stop atomic.Bool
}

func (r *connReader) Read(p []byte) (int, error) {
	switch st := r.state.Load(); {
	case st == readBody:
		r.rd.extend(time.Now(), r.c.SetReadDeadline, r.to.BodyRead)
		if r.stop.Load() {
			return 0, os.ErrDeadlineExceeded
		}
	case st == readHead && !r.headBound:
		r.headBound = true
		if r.to.HeaderRead > 0 {
			r.rd.extend(time.Now(), r.c.SetReadDeadline, r.to.HeaderRead)
		}
	}
	n, err := r.c.Read(p)
	if n > 0 && !r.got {
		r.got = true
		if !r.state.CompareAndSwap(readIdle, readHead) {
			r.state.CompareAndSwap(readFirst, readHead)
		}
	}
	return n, err
}

// forget records that the read deadline was set behind the tracker's back
// (to wake a reader), so the next wait sets it again.
func (r *connReader) forget() { r.rd = lazyDeadline{} }

// newConn readies an h1conn for c, reusing one from the Service's pool.
func (s *Service) newConn(c net.Conn, d *vstream.Digest) *h1conn {
	hc, _ := s.connPool.Get().(*h1conn)
	if hc == nil {
		hc = &h1conn{svc: s}
		hc.in.to = &s.to
		hc.r = http1.NewReader(&hc.in, s.cfg.Limits)
		hc.sess.c = hc
		hc.sess.Request = &hc.req
		hc.sess.Response = &hc.resp
	} else {
		hc.r.Reset(&hc.in)
	}
	hc.c = c
	hc.in.c = c
	hc.in.forget()
	hc.wd = lazyDeadline{}
	hc.linger = false
	hc.in.state.Store(readIdle)
	hc.sess.Digest = d
	return hc
}

func (s *Service) freeConn(hc *h1conn) {
	hc.c, hc.in.c, hc.sess.Digest = nil, nil, nil
	hc.sess.Ctx, hc.sess.Peer, hc.sess.LastError = nil, nil, nil
	hc.r.Reset(nil)
	if cap(hc.wbuf) > 64<<10 {
		hc.wbuf = nil
	}
	if cap(hc.upw) > 64<<10 {
		hc.upw = nil
	}
	s.connPool.Put(hc)
}

// serveConn serves requests on c until it ends.
func (s *Service) serveConn(ctx context.Context, c net.Conn, d *vstream.Digest) {
	hc := s.newConn(c, d)
	defer s.freeConn(hc)
	defer c.Close()
	s.track(hc)
	defer s.untrack(hc)
	if _, stream := c.(*streamConn); s.m != nil && !stream { // an h2 stream's connection is counted once, by ServeH2
		s.m.connOpened()
		defer s.m.connClosed()
	}
	// The connection's own context ends with ctx or with abort (Shutdown
	// out of time): it stops retries and dials, and closing both sockets
	// ends whatever the goroutine waits on. The closing may run on another
	// goroutine; the h1conn is not recycled before it has returned.
	ctx, cancel := context.WithCancel(ctx)
	hc.cancel = cancel
	aborted := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		hc.closeAll()
		close(aborted)
	})
	defer func() {
		if !stop() {
			<-aborted
		}
		cancel()
	}()
	first := true
	for {
		if !hc.readRequest(ctx, first) {
			break
		}
		first = false
		if !hc.serveRequest(ctx) {
			break
		}
	}
	if hc.linger && ctx.Err() == nil {
		hc.lingerClose()
	}
}

// lingerClose half-closes the client connection, so that the client sees
// the end of the response, then reads and drops what it still sends until
// it closes too, Timeouts.Linger passes or MaxLingerBytes were read. The
// caller closes the connection afterwards: with nothing left unread, the
// close sends no reset that could destroy the response in flight.
func (hc *h1conn) lingerClose() {
	to := hc.svc.to.Linger
	cw, ok := hc.c.(interface{ CloseWrite() error })
	if to <= 0 || !ok || cw.CloseWrite() != nil {
		return
	}
	hc.c.SetReadDeadline(time.Now().Add(to))
	var buf [8 << 10]byte
	for n := 0; n < MaxLingerBytes; {
		m, err := hc.c.Read(buf[:])
		n += m
		if err != nil {
			return
		}
	}
}

// abort ends the connection now: its context is cancelled, which closes
// the client connection and the upstream one in use.
func (hc *h1conn) abort() { hc.cancel() }

// closeAll closes the client connection and the upstream one in use. The
// upstream one is taken with a Swap, so that it is never closed after
// exchange has handed it back to the pool (exchange takes it back with a
// CompareAndSwap before pooling).
func (hc *h1conn) closeAll() {
	hc.c.Close()
	if uc := hc.up.Swap(nil); uc != nil {
		uc.c.Close()
	}
}

// wake makes a connection waiting idle for its next request notice that
// the Service is draining. A new connection waiting for its first request
// (readFirst) is left to read it, bounded by HeaderRead.
func (hc *h1conn) wake() {
	if hc.in.state.Load() == readIdle {
		hc.c.SetReadDeadline(time.Unix(1, 0))
	}
}

// readRequest reads the next request head. It reports false when the
// connection should end: closed, idle too long, draining, or a bad request
// (which it answers and logs).
func (hc *h1conn) readRequest(ctx context.Context, first bool) bool {
	s := hc.svc
	to := &s.to
	hc.req.Reset()
	hc.in.got, hc.in.headBound = false, false
	if hc.r.Buffered() > 0 {
		// A pipelined request: its head is bounded from now.
		hc.in.state.Store(readHead)
		hc.in.got, hc.in.headBound = true, true
		hc.in.rd.extend(time.Now(), hc.c.SetReadDeadline, to.HeaderRead)
	} else {
		if s.draining.Load() && !first {
			return false
		}
		hc.in.state.Store(readIdle)
		if first {
			// A new connection is not idle: a drain does not wake it
			// (its client may be sending the request it connected for).
			hc.in.state.Store(readFirst)
			hc.in.rd.extend(time.Now(), hc.c.SetReadDeadline, to.HeaderRead)
		} else {
			// hc.clock is when the last request ended: recent enough.
			hc.in.rd.extend(hc.clock, hc.c.SetReadDeadline, to.Idle)
		}
		if s.draining.Load() && !first { // Shutdown may have looked before the state was idle
			return false
		}
	}
	err := hc.r.ReadRequest(&hc.req)
	hc.in.state.Store(readDone)
	if err == nil {
		return true
	}
	started := hc.in.got || hc.r.Buffered() > 0
	switch {
	case !started && (errors.Is(err, io.EOF) || errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, net.ErrClosed)):
		return false // closed or idle between requests: nothing to answer
	case errors.Is(err, os.ErrDeadlineExceeded):
		err = wrapKind(ErrHeaderTimeout, err)
	case http1.StatusOf(err) != 0:
		err = wrapKind(ErrDownstreamProtocol, err)
	default:
		err = wrapKind(ErrDownstreamClosed, err)
	}
	// Answer what can be answered, then log the request as failed.
	sess := &hc.sess
	sess.reset()
	sess.Start = time.Now()
	hc.clock = sess.Start
	sess.closeConn = true
	hc.fail(ctx, sess, err)
	hc.finish(ctx, sess, err)
	// The rest of a bad or oversized head may still be on its way.
	hc.linger = sess.Status != 0
	return false
}

// tick reads the clock for a step of the current request: the monotonic
// clock only (one read, against two for time.Now), as an offset from the
// request's Start. It also refreshes hc.clock.
func (hc *h1conn) tick() time.Time {
	hc.clock = hc.sess.Start.Add(time.Since(hc.sess.Start))
	return hc.clock
}

// serveRequest runs one request through the pipeline and reports whether
// the connection may carry another.
func (hc *h1conn) serveRequest(ctx context.Context) bool {
	s := hc.svc
	sess := &hc.sess
	sess.reset()
	sess.Start = time.Now()
	hc.clock = sess.Start
	hc.rq = reqState{}
	if !hc.req.KeepAlive || s.draining.Load() {
		sess.closeConn = true
	}
	if s.ph.newCtx != nil {
		sess.Ctx = s.ph.newCtx.NewCtx()
	}
	err := hc.proxy(ctx, sess)
	if err != nil {
		sess.LastError = err
		sess.closeConn = true
		hc.fail(ctx, sess, err)
	}
	hc.finish(ctx, sess, err)
	// Bytes of a request body nobody read would be taken for the next
	// request: the request must have been read to its end. They may still
	// be coming: the close lingers.
	unread := hc.req.Framing != http1.NoBody && !hc.rq.bodyDone
	if sess.closeConn || unread {
		hc.linger = unread && sess.Status != 0
		return false
	}
	return true
}

// lockPhases takes phaseMu when the request body goroutine runs, so that a
// phase called now does not overlap RequestBodyFilter; it reports whether
// it did, for unlockPhases.
func (hc *h1conn) lockPhases() bool {
	if !hc.bodyLive {
		return false
	}
	hc.phaseMu.Lock()
	return true
}

// unlockPhases undoes lockPhases.
func (hc *h1conn) unlockPhases(locked bool) {
	if locked {
		hc.phaseMu.Unlock()
	}
}
