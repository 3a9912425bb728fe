package vmux

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"time"
)

// readClock keeps a session's read-side time limits with the connection's
// read deadline alone: no timer or goroutine of its own, and nothing done
// per frame but counting it.
//
// Until the peer's HELLO has arrived the deadline is the handshake's,
// fixed. After it the deadline is a check-up, re-armed only when it
// expires: a read that meets it does not fail the session but makes the
// clock look at what happened since the last check-up (frames completed,
// frames sent and received, streams open, whether a frame is half read)
// and either end the session (ErrIdleTimeout, ErrFrameTimeout) or arm the
// next check-up and read on. Check-ups come at most FrameTimeout apart
// (IdleTimeout when FrameTimeout is off), so a busy session pays one
// SetReadDeadline per period, not one per frame.
//
// It belongs to the read loop's goroutine.
type readClock struct {
	s    *Session
	conn net.Conn

	frame, idle time.Duration // the session's FrameTimeout and IdleTimeout; <= 0 is off
	handshake   bool          // the handshake's deadline is armed
	ticking     bool          // check-up deadlines are armed

	frames      uint64    // frames read completely
	lastFrames  uint64    // frames at the last check-up
	lastInFrame bool      // a frame was half read at the last check-up
	frameSeen   time.Time // the first check-up that saw the current half-read frame
	activity    uint64    // frames sent plus received at the last check-up
	idleSince   time.Time // when the session was last seen busy
}

// start arms the handshake deadline, or the first check-up when the
// handshake is not bounded.
func (c *readClock) start(s *Session) {
	c.s, c.conn = s, s.conn
	c.frame, c.idle = s.cfg.FrameTimeout, s.cfg.IdleTimeout
	if t := s.cfg.HandshakeTimeout; t > 0 {
		c.handshake = true
		c.conn.SetReadDeadline(time.Now().Add(t))
		return
	}
	c.startTicks()
}

// helloDone ends the handshake's deadline and starts the check-ups.
func (c *readClock) helloDone() {
	if !c.handshake {
		return
	}
	c.handshake = false
	if !c.startTicks() {
		c.conn.SetReadDeadline(time.Time{})
	}
}

// startTicks arms the first check-up; false when neither limit is on.
func (c *readClock) startTicks() bool {
	if c.frame <= 0 && c.idle <= 0 {
		return false
	}
	c.ticking = true
	now := time.Now()
	c.idleSince = now
	c.activity = c.s.activity()
	c.conn.SetReadDeadline(c.next(now, false))
	return true
}

// frameDone counts a frame read completely.
func (c *readClock) frameDone() { c.frames++ }

// peek is br.Peek(n) that rides out check-ups: when the read meets a
// check-up deadline, the clock runs its check-up and the read goes on
// (the bytes already read stay in br). inFrame tells whether the bytes
// wanted belong to a frame already begun. The error is the read's, or one
// wrapping ErrIdleTimeout or ErrFrameTimeout when the check-up ends the
// session.
func (c *readClock) peek(br *bufio.Reader, n int, inFrame bool) ([]byte, error) {
	for {
		b, err := br.Peek(n)
		if err == nil || !c.ticking || !isTimeout(err) {
			return b, err
		}
		if err := c.checkUp(inFrame || len(b) > 0); err != nil {
			return nil, err
		}
	}
}

// checkUp runs when a check-up deadline expires: it ends the session's
// reading with an error when a frame has been half read for FrameTimeout,
// or when no stream was open and no frame moved for IdleTimeout;
// otherwise it arms the next check-up.
func (c *readClock) checkUp(inFrame bool) error {
	now := time.Now()
	if inFrame {
		if !c.lastInFrame || c.frames != c.lastFrames {
			c.frameSeen = now // a frame begun since the last check-up
		}
		if c.frame > 0 && now.Sub(c.frameSeen) >= c.frame {
			return fmt.Errorf("%w: a frame begun over %v ago is still incomplete", ErrFrameTimeout, c.frame)
		}
	}
	c.lastInFrame, c.lastFrames = inFrame, c.frames
	if a := c.s.activity(); a != c.activity || c.s.openStreams() > 0 {
		c.activity = a
		c.idleSince = now
	}
	if c.idle > 0 && now.Sub(c.idleSince) >= c.idle {
		return fmt.Errorf("%w: no stream open and no frame sent or received for %v", ErrIdleTimeout, c.idle)
	}
	c.conn.SetReadDeadline(c.next(now, inFrame))
	return nil
}

// next is when the check-up after one at now is due: when the idle limit
// would be reached, and at most FrameTimeout away, or exactly when a half
// read frame would reach it.
func (c *readClock) next(now time.Time, inFrame bool) time.Time {
	var due time.Time
	if c.idle > 0 {
		due = c.idleSince.Add(c.idle)
	}
	if c.frame > 0 {
		f := now.Add(c.frame)
		if inFrame {
			f = c.frameSeen.Add(c.frame)
		}
		if due.IsZero() || f.Before(due) {
			due = f
		}
	}
	return due
}

// isTimeout reports whether a read failed on its deadline.
func isTimeout(err error) bool {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// activity is a count that changes whenever a frame is sent or received.
func (s *Session) activity() uint64 {
	return s.counters.framesReceived.Load() + s.counters.framesSent.Load()
}

// openStreams is the number of streams open now.
func (s *Session) openStreams() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.streams)
}
