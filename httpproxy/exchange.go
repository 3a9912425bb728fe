package httpproxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"time"

	"github.com/sluice-proxy/sluice/internal/zero"
	"github.com/sluice-proxy/sluice/protocols/http1"
	"github.com/sluice-proxy/sluice/splice"
)

// maxDrain bounds the request body read and dropped after an upstream
// answered early, to keep the client connection; past it the connection
// is closed instead.
const maxDrain = 256 << 10

var (
	errDrainTooLong = errors.New("httpproxy: request body still coming after the response; connection closed")
	errBodyStopped  = errors.New("httpproxy: request body not read to its end: the exchange ended first")
)

// maxInlineBody bounds a request body sent in the same write as its head
// and kept for a retry (Pingora keeps 64 KiB for the same purpose).
const maxInlineBody = 64 << 10

// flushAt is how much response data is gathered before a write to the
// client.
const flushAt = 32 << 10

// exchange sends the request over uc and relays the response to the
// client. It owns uc: it pools or closes it.
func (hc *h1conn) exchange(ctx context.Context, s *Session, uc *upConn) error {
	hc.rq.respStarted, hc.rq.upBodyDone = false, false
	hc.body = nil
	hc.up.Store(uc)
	defer hc.up.CompareAndSwap(uc, nil)
	if err := ctx.Err(); err != nil {
		// Aborted before uc was in reach of the abort: close it here.
		uc.c.Close()
		return wrapKind(ErrDownstreamClosed, err)
	}
	if err := hc.sendRequest(ctx, s, uc); err != nil {
		uc.c.Close()
		return err
	}
	rto := zero.Duration(s.Peer.ReadTimeout, hc.svc.to.UpstreamRead)
	wait := rto
	if d, ok := grpcTimeout(&hc.req); ok && (wait <= 0 || d < wait) {
		wait = d // the call's own deadline bounds the wait for its answer
	}
	if err := hc.awaitResponse(s, uc, wait); err != nil {
		return err
	}
	if s.Response.Status == 101 {
		return hc.upgrade(ctx, s, uc)
	}
	return hc.settle(s, uc, hc.relayResponse(ctx, s, uc, rto))
}

// sendRequest builds the upstream request (UpstreamRequestFilter
// included) and writes its head upstream. The request body goes in the
// head's write when it is small and already here (it is then kept for a
// retry); otherwise a goroutine streams it while the response is awaited,
// and hc.body will carry its outcome. The caller closes uc on error.
func (hc *h1conn) sendRequest(ctx context.Context, s *Session, uc *upConn) error {
	ph := &hc.svc.ph
	up := &s.upRequest
	hc.buildUpstreamRequest(s, up)
	if ph.upRequest != nil {
		if err := ph.upRequest.UpstreamRequestFilter(ctx, s, up); err != nil {
			return wrapKind(ErrInternal, err)
		}
		if isHead(up.Method) && !isHead(hc.req.Method) {
			// The answer to HEAD has no body, but its Content-Length
			// would promise the client one.
			return wrapKind(ErrInternal, fmt.Errorf("UpstreamRequestFilter turned a %s request into HEAD: the client would wait for a body the upstream does not send", hc.req.Method))
		}
	}
	wto := zero.Duration(s.Peer.WriteTimeout, hc.svc.to.UpstreamWrite)
	req := &hc.req
	hasBody := req.Framing != http1.NoBody
	chunked := hasBody && (req.Framing == http1.Chunked || ph.reqBody != nil)
	if hasBody && !chunked && !hc.rq.bodyDone && !req.ExpectContinue &&
		req.ContentLength <= maxInlineBody && int64(hc.r.Buffered()) >= req.ContentLength {
		if err := hc.readInlineBody(s); err != nil {
			return err
		}
	}
	inline := hasBody && hc.rq.bodyDone
	if chunked {
		up.Header.Del("Content-Length")
		up.Header.Set("Transfer-Encoding", "chunked")
	}
	hc.upw = up.AppendHead(hc.upw[:0])
	if inline {
		hc.upw = append(hc.upw, hc.inlineBody...)
	}
	if s.mirror != nil {
		hc.startMirror(s, hc.upw, !hasBody || inline)
	}
	uc.wd.extend(hc.clock, uc.c.SetWriteDeadline, wto)
	if _, err := uc.c.Write(hc.upw); err != nil {
		return upstreamErr(err)
	}
	if hasBody && !inline {
		hc.body = make(chan error, 1)
		hc.rq.bodyStreamed = true
		hc.bodyLive = true
		go hc.sendBody(ctx, s, uc, chunked, wto, hc.body)
	}
	return nil
}

// stopBody ends a request body still streaming and returns its outcome
// (nil when none streams). A body read to its end is only being written:
// it is waited for. Otherwise the upstream answered (or failed) before the
// whole body came, and the rest of it is abandoned.
func (hc *h1conn) stopBody(s *Session, uc *upConn) error {
	if hc.body == nil {
		return nil
	}
	if !hc.rq.bodyRead.Load() {
		uc.c.Close()
		hc.in.stop.Store(true)
		hc.c.SetReadDeadline(time.Unix(1, 0))
	}
	err := <-hc.body
	hc.body = nil
	hc.bodyLive = false
	hc.in.stop.Store(false)
	hc.in.forget() // the deadline may have been moved to wake it
	if !hc.rq.bodyDone {
		s.closeConn = true // the rest of the request body is still on the wire
	}
	return err
}

// awaitResponse reads the response head into s.Response, passing 1xx
// interim responses on to the client. On failure it closes uc and ends the
// request body's stream; a fault of the client's found there explains the
// upstream's failure, and is returned instead.
func (hc *h1conn) awaitResponse(s *Session, uc *upConn, rto time.Duration) error {
	resp := s.Response
	uc.rd.extend(hc.clock, uc.c.SetReadDeadline, rto)
	for {
		resp.Reset()
		err := uc.r.ReadResponse(resp, s.upRequest.Method)
		if err != nil {
			uc.c.Close()
			err = upstreamErr(err)
			if berr := hc.stopBody(s, uc); clientFault(berr) && !errors.Is(berr, errBodyStopped) {
				err = berr
			}
			return err
		}
		hc.rq.respStarted = true
		if resp.Status >= 200 || resp.Status == 101 {
			break
		}
		if err := hc.relayInterim(s, resp); err != nil {
			uc.c.Close()
			hc.stopBody(s, uc)
			return err
		}
	}
	s.FirstByte = hc.tick()
	if m := hc.svc.m; m != nil {
		m.firstByte(s.FirstByte.Sub(s.Connected))
	}
	return nil
}

// upgrade completes a 101 Switching Protocols: only a request that asked
// for an upgrade gets one, once its body is done.
func (hc *h1conn) upgrade(ctx context.Context, s *Session, uc *upConn) error {
	if !hc.req.Upgrade {
		uc.c.Close()
		hc.stopBody(s, uc)
		return wrapKind(ErrUpstreamProtocol, errors.New("101 Switching Protocols to a request that asked for no upgrade"))
	}
	if err := hc.stopBody(s, uc); err != nil {
		uc.c.Close()
		return err
	}
	return hc.tunnel(ctx, s, uc)
}

// settle ends an exchange whose response relayResponse has passed on (err
// is its outcome): the request body's stream is ended, uc goes back to the
// pool when both messages ended cleanly and is closed otherwise, and the
// last of the response is written to the client.
func (hc *h1conn) settle(s *Session, uc *upConn, err error) error {
	if err == nil && hc.rq.expectRefused {
		// The answer goes out first; the body the client may never send
		// is not waited for.
		uc.c.Close()
		err = hc.flush()
		hc.stopBody(s, uc)
		return err
	}
	if err == nil && hc.body != nil && !hc.rq.bodyRead.Load() {
		// The upstream answered before it had the whole request body (a
		// 413, a redirect, nginx's return). The answer stands and goes out
		// first; the upstream connection, in doubt, is closed; the rest of
		// the body is read and dropped (up to maxDrain) to keep the client.
		hc.rq.drain.Store(true)
		uc.c.Close()
		err = hc.flush()
		<-hc.body
		hc.body = nil
		hc.bodyLive = false
		if !hc.rq.bodyDone {
			s.closeConn = true
		}
		return err
	}
	berr := hc.stopBody(s, uc)
	// The connection goes back before the last write to the client, so the
	// client's next request finds it.
	peer := s.Peer
	reusable := err == nil && berr == nil && s.Response.KeepAlive && hc.rq.upBodyDone && peer.IdleTimeout >= 0 && !uc.h2
	// Taken back from abort's reach first: once pooled, another request may
	// use it. When abort got it first, it is closed.
	if reusable && hc.up.CompareAndSwap(uc, nil) {
		hc.svc.pool.put(uc, peer.IdleTimeout, hc.clock)
	} else {
		uc.c.Close()
	}
	if err == nil {
		err = hc.flush()
	}
	return err
}

// upstreamErr classifies a failure on the upstream connection.
func upstreamErr(err error) error {
	switch {
	case isTimeout(err):
		return wrapKind(ErrUpstreamTimeout, err)
	case http1.StatusOf(err) != 0:
		return wrapKind(ErrUpstreamProtocol, err)
	}
	return wrapKind(ErrUpstreamClosed, err)
}

// downstreamErr classifies a failure on the client connection: a
// malformed request, a client that stalled past its deadline, or one that
// went away.
func downstreamErr(err error) error {
	if http1.StatusOf(err) != 0 {
		return wrapKind(ErrDownstreamProtocol, err)
	}
	if isTimeout(err) {
		return wrapKind(ErrDownstreamTimeout, err)
	}
	return wrapKind(ErrDownstreamClosed, err)
}

// isTimeout reports whether err is a deadline that passed.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}

// readInlineBody reads a whole, already buffered request body into
// hc.inlineBody.
func (hc *h1conn) readInlineBody(s *Session) error {
	br := hc.r.Body(hc.req.Framing, hc.req.ContentLength)
	hc.inlineBody = hc.inlineBody[:0]
	for {
		p, err := br.Next()
		hc.inlineBody = append(hc.inlineBody, p...)
		if err == io.EOF {
			break
		}
		if err != nil {
			return downstreamErr(err)
		}
	}
	s.RequestBodyBytes = int64(len(hc.inlineBody))
	hc.rq.bodyDone = true
	return nil
}

// sendBody streams the request body upstream (on its own goroutine) and
// reports the outcome on done. On a failure it closes the upstream
// connection, so that the response wait ends too.
func (hc *h1conn) sendBody(ctx context.Context, s *Session, uc *upConn, chunked bool, wto time.Duration, done chan<- error) {
	hc.in.state.Store(readBody)
	err := hc.streamBody(ctx, s, uc, chunked, wto)
	// Everything of hc this goroutine touched is settled before done
	// lets the connection's goroutine go on.
	hc.in.state.Store(readDone)
	done <- err
}

// streamBody is sendBody's loop.
func (hc *h1conn) streamBody(ctx context.Context, s *Session, uc *upConn, chunked bool, wto time.Duration) error {
	filter := hc.svc.ph.reqBody
	br := hc.r.Body(hc.req.Framing, hc.req.ContentLength)
	buf := hc.bodyBuf[:0]
	defer func() { hc.bodyBuf = buf[:0] }()
	write := func() error {
		if len(buf) == 0 {
			return nil
		}
		uc.wd.extend(time.Now(), uc.c.SetWriteDeadline, wto)
		_, err := uc.c.Write(buf)
		buf = buf[:0]
		if err != nil {
			return upstreamErr(err)
		}
		return nil
	}
	drained := int64(0)
	pieces := bodyPieces{svc: hc.svc, rd: hc.r, br: br, direct: hc.req.Framing == http1.Length}
	defer pieces.release()
	for {
		p, err := pieces.next()
		if err != nil && err != io.EOF {
			// Read before closing uc: the connection's goroutine stops
			// this one (with a past deadline) when the upstream answered
			// or failed, and the close below makes it fail.
			stopped := hc.in.stop.Load()
			uc.c.Close()
			if stopped && isTimeout(err) {
				// No fault of the client's.
				return wrapKind(ErrDownstreamClosed, errBodyStopped)
			}
			return downstreamErr(err)
		}
		end := err == io.EOF
		if end {
			hc.rq.bodyRead.Store(true)
		}
		if hc.rq.drain.Load() {
			// The upstream has answered: the rest is read and dropped, so
			// the client connection can carry its next request.
			if drained += int64(len(p)); drained > maxDrain {
				return wrapKind(ErrDownstreamClosed, errDrainTooLong)
			}
			if end {
				hc.rq.bodyDone = true
				return nil
			}
			continue
		}
		hc.phaseMu.Lock()
		if filter != nil {
			var ferr error
			if p, ferr = filter.RequestBodyFilter(ctx, s, p, end); ferr != nil {
				hc.phaseMu.Unlock()
				uc.c.Close()
				return wrapKind(ErrInternal, ferr)
			}
		}
		s.RequestBodyBytes += int64(len(p))
		total := s.RequestBodyBytes
		hc.phaseMu.Unlock()
		if max := hc.svc.cfg.MaxRequestBody; max > 0 && total > max {
			uc.c.Close()
			return wrapKind(ErrRequestTooLarge, fmt.Errorf("request body over %d bytes", max))
		}
		if chunked {
			buf = http1.AppendChunk(buf, p)
			if end {
				buf = http1.AppendLastChunk(buf, br.Trailers())
			}
		} else {
			buf = append(buf, p...)
		}
		if end || !br.Ready() || len(buf) >= flushAt {
			if werr := write(); werr != nil && !hc.rq.drain.Load() {
				uc.c.Close()
				return werr
			}
		}
		if end {
			hc.rq.bodyDone = true
			return nil
		}
	}
}

// relayInterim passes a 1xx response (100 Continue, 103 Early Hints) on to
// an HTTP/1.1 client; HTTP/1.0 clients get none.
func (hc *h1conn) relayInterim(s *Session, resp *http1.Response) error {
	if hc.req.Version < 11 {
		return nil
	}
	if resp.Status == 100 {
		hc.rq.sent100 = true
	}
	stripHopByHop(&resp.Header)
	resp.Version = 11
	hc.wbuf = resp.AppendHead(hc.wbuf[:0])
	return hc.flush()
}

// relayResponse sends the response head and streams its body to the
// client, choosing the client's framing. The last of it is left in hc.wbuf
// for exchange to write once the upstream connection is settled.
func (hc *h1conn) relayResponse(ctx context.Context, s *Session, uc *upConn, rto time.Duration) error {
	ph := &hc.svc.ph
	resp := s.Response
	upFraming, upLength := resp.Framing, resp.ContentLength
	if ph.upResponse != nil {
		locked := hc.lockPhases()
		err := ph.upResponse.UpstreamResponseFilter(ctx, s, resp)
		hc.unlockPhases(locked)
		if err != nil {
			return wrapKind(ErrInternal, err)
		}
	}
	stripHopByHop(&resp.Header)
	if ph.response != nil {
		locked := hc.lockPhases()
		err := ph.response.ResponseFilter(ctx, s, resp)
		hc.unlockPhases(locked)
		if err != nil {
			return wrapKind(ErrInternal, err)
		}
	}
	if hc.req.ExpectContinue && !hc.rq.sent100 && hc.rq.bodyStreamed && !hc.rq.bodyRead.Load() {
		// A final answer to "Expect: 100-continue" without a 100 first: the
		// client may never send its body (RFC 9110 10.1.1), so what it
		// sends next cannot be told from the body. The connection ends
		// with this response.
		s.closeConn = true
		hc.rq.expectRefused = true
	}
	down := upFraming
	if upFraming != http1.NoBody {
		switch {
		case resp.Header.Has("Content-Length"):
			down = http1.Length
		case hc.req.Version >= 11:
			down = http1.Chunked
			resp.Header.Set("Transfer-Encoding", "chunked")
		default:
			down = http1.UntilClose
			s.closeConn = true
		}
	}
	hc.setConnection(s, &resp.Header)
	hc.altSvc(&resp.Header)
	resp.Version = 11
	s.Status = resp.Status
	hc.wbuf = resp.AppendHead(hc.wbuf[:0])
	s.headSent = true
	if upFraming == http1.NoBody {
		hc.rq.upBodyDone = true
		return nil // exchange writes it
	}
	br := uc.r.Body(upFraming, upLength)
	if isHead(hc.req.Method) {
		// UpstreamRequestFilter asked for the body of a HEAD request
		// (a GET, say): the client gets the head only. The body is read
		// and dropped so the upstream connection can be reused, or, when
		// long, left for the connection to be closed.
		return hc.dropBody(br, rto, uc)
	}
	return hc.relayBody(ctx, s, uc, br, upFraming, down, rto)
}

// relayBody streams the response body read by br (framed upFraming by
// the upstream) to the client in the client's framing (down), through
// ResponseBodyFilter; a long enough Content-Length body is spliced
// instead. The last of it is left in hc.wbuf for exchange to write once
// the upstream connection is settled.
func (hc *h1conn) relayBody(ctx context.Context, s *Session, uc *upConn, br *http1.BodyReader, upFraming, down http1.Framing, rto time.Duration) error {
	filter := hc.svc.ph.respBody
	spliceAt := hc.svc.cfg.SpliceBody
	if spliceAt == 0 {
		spliceAt = defaultSpliceBody
	}
	canSplice := spliceAt > 0 && filter == nil && upFraming == http1.Length && down == http1.Length && !uc.h2
	pieces := bodyPieces{svc: hc.svc, rd: uc.r, br: br, direct: upFraming != http1.Chunked}
	defer pieces.release()
	for {
		if canSplice {
			if n := br.Bypassable(); n >= spliceAt {
				return hc.spliceBody(s, uc, br, n, rto)
			}
		}
		if len(hc.wbuf) > 0 && !br.Done() && !br.Ready() {
			// The next read would wait: what is held goes out first (the
			// head, the last piece), so a streamed body (server-sent
			// events, gRPC, a slow download) flows as it comes.
			if err := hc.flush(); err != nil {
				s.closeConn = true
				return err
			}
		}
		p, err := pieces.next()
		if err != nil && err != io.EOF {
			hc.flush()
			s.closeConn = true
			return upstreamErr(err)
		}
		end := err == io.EOF
		if filter != nil {
			var ferr error
			locked := hc.lockPhases()
			p, ferr = filter.ResponseBodyFilter(ctx, s, p, end)
			hc.unlockPhases(locked)
			if ferr != nil {
				s.closeConn = true
				return wrapKind(ErrInternal, ferr)
			}
		}
		s.ResponseBodyBytes += int64(len(p))
		if down == http1.Chunked {
			hc.wbuf = http1.AppendChunk(hc.wbuf, p)
			if end {
				var tr *http1.Header
				if upFraming == http1.Chunked {
					tr = br.Trailers()
				}
				hc.wbuf = http1.AppendLastChunk(hc.wbuf, tr)
			}
		} else {
			hc.wbuf = append(hc.wbuf, p...)
		}
		if end {
			hc.rq.upBodyDone = true
			return nil // exchange writes the rest
		}
		if len(hc.wbuf) >= flushAt {
			if err := hc.flush(); err != nil {
				s.closeConn = true
				return err
			}
		}
		if !br.Done() {
			// More to read: a long body needs a fresh clock for its
			// deadlines.
			hc.clock = time.Now()
			uc.rd.extend(hc.clock, uc.c.SetReadDeadline, rto)
		}
	}
}

// defaultSpliceBody is Config.SpliceBody's default.
const defaultSpliceBody = 256 << 10

// spliceBody passes the last n bytes of a Content-Length response body
// from the upstream connection to the client with splice.Pool.CopyWith
// (splice(2) when both are sockets), after what the head brought. When the
// body's bytes stop moving for longer than the upstream read timeout it
// fails, and the side it was waiting on takes the blame: an upstream that
// sent nothing (ErrUpstreamTimeout) or a client that read nothing
// (ErrDownstreamTimeout), as a stalled read or write would.
func (hc *h1conn) spliceBody(s *Session, uc *upConn, br *http1.BodyReader, n int64, rto time.Duration) error {
	if err := hc.flush(); err != nil {
		s.closeConn = true
		return err
	}
	idle := rto
	if idle <= 0 {
		idle = hc.svc.to.Write
	}
	moved, err := splice.Default().CopyWith(hc.c, uc.c, splice.CopyOptions{Limit: n, IdleTimeout: idle})
	s.ResponseBodyBytes += moved
	// CopyWith moved both connections' deadlines behind the trackers.
	uc.rd, hc.wd = lazyDeadline{}, lazyDeadline{}
	hc.clock = time.Now()
	if err != nil {
		s.closeConn = true
		var op *net.OpError
		var idle *splice.IdleTimeoutError
		switch {
		case errors.As(err, &idle) && idle.Write:
			return wrapKind(ErrDownstreamTimeout, err)
		case errors.Is(err, splice.ErrIdleTimeout):
			return wrapKind(ErrUpstreamTimeout, err)
		case errors.Is(err, io.EOF):
			return upstreamErr(fmt.Errorf("upstream closed %d bytes into a %d-byte body: %w", br.Bytes()+moved, br.Bytes()+n, io.ErrUnexpectedEOF))
		case errors.As(err, &op) && op.Op == "write":
			return wrapKind(ErrDownstreamClosed, err)
		}
		return upstreamErr(err)
	}
	if err := br.Bypassed(moved); err != nil {
		s.closeConn = true
		return wrapKind(ErrInternal, err)
	}
	hc.rq.upBodyDone = true
	return nil
}

// isHead reports whether method is HEAD.
func isHead(method []byte) bool { return string(method) == "HEAD" }

// dropBody reads and drops up to maxDrain bytes of an upstream response
// body nobody will see; a longer one is left unread, and the upstream
// connection, not at a message boundary, is then closed by exchange.
func (hc *h1conn) dropBody(br *http1.BodyReader, rto time.Duration, uc *upConn) error {
	var n int64
	for n <= maxDrain {
		p, err := br.Next()
		n += int64(len(p))
		if err == io.EOF {
			hc.rq.upBodyDone = true
			return nil
		}
		if err != nil {
			return nil // the head is the answer; the connection is not reused
		}
		if !br.Done() {
			hc.clock = time.Now()
			uc.rd.extend(hc.clock, uc.c.SetReadDeadline, rto)
		}
	}
	return nil
}

// setConnection says in h whether the client connection stays open.
func (hc *h1conn) setConnection(s *Session, h *http1.Header) {
	if hc.svc.draining.Load() {
		s.closeConn = true
	}
	switch {
	case s.closeConn:
		h.Set("Connection", "close")
	case hc.req.Version < 11:
		h.Set("Connection", "keep-alive")
	}
}

// flush writes the gathered output to the client.
func (hc *h1conn) flush() error {
	if len(hc.wbuf) == 0 {
		return nil
	}
	hc.wd.extend(hc.clock, hc.c.SetWriteDeadline, hc.svc.to.Write)
	_, err := hc.c.Write(hc.wbuf)
	hc.wbuf = hc.wbuf[:0]
	if err != nil {
		return downstreamErr(err)
	}
	return nil
}
