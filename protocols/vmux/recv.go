package vmux

import (
	"bufio"
	"errors"
	"fmt"
	"io"
)

// readBufferSize is the size of a session's read buffer. DATA payloads
// larger than it are copied to their stream in pieces.
const readBufferSize = 64 << 10

// readLoop is the goroutine that reads a Session's frames and dispatches
// them. It never blocks on anything but the connection: what it must send
// (window updates, PING answers, refusals) it queues for writeLoop, and
// what it receives fits in windows the peer must respect. Its readClock
// keeps the handshake, idle and frame time limits with the connection's
// read deadline.
func (s *Session) readLoop() {
	br := bufio.NewReaderSize(s.conn, readBufferSize)
	var rc readClock
	rc.start(s)
	ctl := make([]byte, 8+MaxGoAwayReason) // largest control payload
	first := true
	for {
		b, err := rc.peek(br, HeaderLen, false)
		if err != nil {
			s.readFailed(err, first, len(b) == 0)
			return
		}
		h := decodeHeader(b)
		br.Discard(HeaderLen)
		if err := h.check(uint32(s.cfg.MaxFrameSize)); err != nil {
			s.end(err, codeOf(err))
			return
		}
		switch {
		case first && h.typ != FrameHello:
			s.end(fmt.Errorf("%w: first frame is %s, want HELLO", ErrProtocol, h.typ), CodeProtocol)
			return
		case !first && h.typ == FrameHello:
			s.end(fmt.Errorf("%w: second HELLO", ErrProtocol), CodeProtocol)
			return
		}
		s.counters.framesReceived.Add(1)
		if h.typ == FrameData {
			err = s.readData(&rc, br, h)
		} else {
			var p []byte
			if h.length > 0 {
				if p, err = rc.peek(br, int(h.length), true); err != nil {
					s.readFailed(err, first, false)
					return
				}
				p = ctl[:copy(ctl, p)]
				br.Discard(len(p))
			}
			if err = h.checkPayload(p); err == nil {
				err = s.handle(h, p)
			}
		}
		if err != nil {
			if s.isDone() {
				return
			}
			if isReadErr(err) {
				s.readFailed(errors.Unwrap(err), false, false)
				return
			}
			s.end(err, codeOf(err))
			return
		}
		rc.frameDone()
		if first {
			first = false
			rc.helloDone()
		}
	}
}

// readErr marks an error from reading the connection in the middle of a
// frame, as opposed to a protocol violation.
type readErr struct{ err error }

func (e *readErr) Error() string { return e.err.Error() }
func (e *readErr) Unwrap() error { return e.err }

func isReadErr(err error) bool {
	var re *readErr
	return errors.As(err, &re)
}

// readFailed ends the session after reading the connection failed, or
// after its readClock found it idle or stalled in a frame. Time limits end
// it with a GOAWAY saying why; other failures close it at once.
func (s *Session) readFailed(err error, handshake, boundary bool) {
	if s.isDone() {
		return
	}
	switch {
	case errors.Is(err, ErrIdleTimeout), errors.Is(err, ErrFrameTimeout):
		s.end(err, codeOf(err))
		return
	case handshake && isTimeout(err):
		err = fmt.Errorf("%w (%v)", ErrHandshakeTimeout, s.cfg.HandshakeTimeout)
		s.end(err, codeOf(err))
		return
	case boundary && err == io.EOF:
		err = fmt.Errorf("%w", ErrPeerClosed)
	case err == io.EOF:
		err = fmt.Errorf("vmux: connection closed inside a frame: %w", io.ErrUnexpectedEOF)
	default:
		err = fmt.Errorf("vmux: read: %w", err)
	}
	s.fail(err)
}

// lookup returns the stream id names, or nil; known tells whether a
// missing stream was opened once (and is done), so late frames for it are
// ignored rather than a protocol violation.
func (s *Session) lookup(id uint32) (st *Stream, known bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st = s.streams[id]
	return st, st != nil || s.knownLocked(id)
}

// readData reads a DATA frame's payload into its stream.
func (s *Session) readData(rc *readClock, br *bufio.Reader, h header) error {
	st, known := s.lookup(h.id)
	if !known {
		return fmt.Errorf("%w: DATA on stream %d, which was never opened", ErrProtocol, h.id)
	}
	n := int(h.length)
	if st != nil {
		if err := st.admit(n); err != nil {
			return err
		}
	}
	for rem := n; rem > 0; {
		k := min(rem, br.Size())
		chunk, err := rc.peek(br, k, true)
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return &readErr{err}
		}
		if st != nil {
			st.deliver(chunk)
		}
		br.Discard(k)
		rem -= k
	}
	s.counters.bytesReceived.Add(uint64(n))
	if st != nil {
		signal(st.readable)
	}
	return nil
}

// handle acts on a control or stream frame other than DATA.
func (s *Session) handle(h header, p []byte) error {
	f := Frame{Type: h.typ, Flags: h.flags, StreamID: h.id, Payload: p}
	switch h.typ {
	case FrameHello:
		s.peer = f.Hello()
		s.peerMaxFrame.Store(s.peer.MaxFrameSize)
		close(s.hello)
		return nil
	case FrameOpen:
		return s.onOpen(h.id)
	case FramePing:
		if h.flags&FlagAck != 0 {
			s.mu.Lock()
			if ch := s.pings[f.PingData()]; ch != nil {
				close(ch)
				delete(s.pings, f.PingData())
			}
			s.mu.Unlock()
			return nil
		}
		return s.w.queueCtrl(PingFrame(f.PingData(), true))
	case FrameGoAway:
		return s.onGoAway(f.LastStream(), f.Code(), f.Reason())
	}
	st, known := s.lookup(h.id)
	if !known {
		return fmt.Errorf("%w: %s on stream %d, which was never opened", ErrProtocol, h.typ, h.id)
	}
	if st == nil {
		return nil // a late frame for a finished stream
	}
	switch h.typ {
	case FrameFin:
		return st.onFin()
	case FrameReset:
		s.counters.resetsReceived.Add(1)
		st.onReset(f.Code())
		return nil
	case FrameWindow:
		return st.onWindow(f.Window())
	}
	return fmt.Errorf("%w: unexpected %s", ErrProtocol, h.typ)
}

// onOpen admits or refuses a stream the peer opened.
func (s *Session) onOpen(id uint32) error {
	s.mu.Lock()
	if !s.peerOpened(id) {
		s.mu.Unlock()
		return fmt.Errorf("%w: peer opened stream %d, which has this side's parity", ErrStreamID, id)
	}
	if id <= s.lastPeerID {
		last := s.lastPeerID
		s.mu.Unlock()
		return fmt.Errorf("%w: stream %d opened again or out of order (last opened %d)", ErrStreamID, id, last)
	}
	s.lastPeerID = id
	if s.goAwaySent || s.closing || s.inbound >= s.cfg.MaxStreams {
		s.mu.Unlock()
		s.counters.refused.Add(1)
		s.counters.resetsSent.Add(1)
		return s.w.queueCtrl(ResetFrame(id, CodeRefused))
	}
	st := newStream(s, id)
	s.streams[id] = st
	s.inbound++
	s.acceptQ = append(s.acceptQ, st)
	s.mu.Unlock()
	s.counters.accepted.Add(1)
	signal(s.acceptReady)
	return nil
}

// onGoAway handles the peer's GOAWAY: with an error code it ends the
// session; otherwise no new streams are opened, and this side's streams
// the peer did not process are refused.
func (s *Session) onGoAway(last uint32, code Code, reason string) error {
	if code != CodeNone {
		s.fail(&GoAwayError{Code: code, Reason: reason})
		return nil
	}
	s.mu.Lock()
	s.goAwayRecv = true
	var refused []*Stream
	for id, st := range s.streams {
		if !s.peerOpened(id) && id > last {
			refused = append(refused, st)
		}
	}
	s.mu.Unlock()
	for _, st := range refused {
		st.onReset(CodeRefused)
	}
	s.mu.Lock()
	s.checkIdleLocked()
	s.mu.Unlock()
	return nil
}
