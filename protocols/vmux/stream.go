package vmux

import (
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"time"

	"github.com/sluice-proxy/sluice/vstream"
)

// Stream is one bidirectional stream of a Session. It is a vstream.Stream:
// a net.Conn with CloseWrite, deadlines and a Digest, so it stands wherever
// a TCP connection does. Its addresses are the session connection's.
//
// Close behaves like closing a socket: it sends FIN (the peer reads EOF
// after the data), and when the peer has not finished sending it also
// resets the stream, so the peer's further writes fail instead of filling a
// window nobody reads. Reset aborts both directions at once.
type Stream struct {
	sess   *Session
	id     uint32
	digest *vstream.Digest

	mu sync.Mutex
	// Receiving.
	buf          []byte // unread bytes are buf[rpos:]
	rpos         int
	recvAvail    int    // bytes the peer may still send
	unacked      uint32 // bytes read but not yet granted back
	windowQueued bool
	finRecv      bool
	// Sending.
	sendWindow int64
	finSent    bool
	stage      []byte // small writes copied, waiting for the writer
	stageSpare []byte // the writer's last stage, given back for reuse
	staged     bool   // a reqStaged for stage is queued
	// Ends.
	reset     *ResetError // set when the stream was reset, by either side
	resetSent bool
	closed    bool // Close was called
	released  bool

	readable, writable chan struct{} // wake-up tokens
	closedCh           chan struct{}
	rd, wd             vstream.Deadline
	wlock              sync.Mutex // makes each Write atomic
	wdone              chan error // the writer's result for this stream's DATA
}

func newStream(s *Session, id uint32) *Stream {
	d := s.base.Clone()
	d.AcceptTime = time.Now()
	return &Stream{
		sess:       s,
		id:         id,
		digest:     d,
		recvAvail:  s.cfg.Window,
		sendWindow: int64(s.peer.Window),
		readable:   make(chan struct{}, 1),
		writable:   make(chan struct{}, 1),
		closedCh:   make(chan struct{}),
		wdone:      make(chan error, 1),
	}
}

// ID returns the stream's id: odd when the client opened it, even when the
// server did.
func (st *Stream) ID() uint32 { return st.id }

// Session returns the session the stream belongs to.
func (st *Stream) Session() *Session { return st.sess }

// Digest returns the stream's metadata: a clone of the session
// connection's Digest (its addresses, and what the connection's own
// Digest held), with AcceptTime the stream's opening.
func (st *Stream) Digest() *vstream.Digest { return st.digest }

// LocalAddr returns the session connection's local address.
func (st *Stream) LocalAddr() net.Addr { return st.sess.conn.LocalAddr() }

// RemoteAddr returns the session connection's remote address.
func (st *Stream) RemoteAddr() net.Addr { return st.sess.conn.RemoteAddr() }

func (st *Stream) opError(op string, err error) error {
	return &net.OpError{Op: op, Net: "vmux", Source: st.LocalAddr(), Addr: st.RemoteAddr(), Err: err}
}

// Read reads the stream's data. After the peer's FIN it returns what is
// buffered, then io.EOF. After a reset by the peer (without FIN) it
// returns an error matching ErrStreamReset.
func (st *Stream) Read(p []byte) (int, error) {
	for {
		st.mu.Lock()
		if st.reset != nil && !st.reset.Remote {
			err := st.reset
			st.mu.Unlock()
			return 0, err
		}
		if st.closed {
			st.mu.Unlock()
			return 0, st.opError("read", net.ErrClosed)
		}
		if st.rd.Exceeded() {
			st.mu.Unlock()
			return 0, st.opError("read", os.ErrDeadlineExceeded)
		}
		if unread := len(st.buf) - st.rpos; unread > 0 {
			n := copy(p, st.buf[st.rpos:])
			st.rpos += n
			if st.rpos == len(st.buf) {
				if st.finRecv || st.reset != nil {
					st.dropBufLocked() // nothing more will arrive
				} else {
					st.buf, st.rpos = st.buf[:0], 0
				}
			}
			grant := false
			if !st.finRecv && st.reset == nil {
				st.unacked += uint32(n)
				if !st.windowQueued && int(st.unacked) >= st.sess.cfg.Window/4 {
					st.windowQueued, grant = true, true
				}
			}
			more := st.rpos < len(st.buf) || st.finRecv || st.reset != nil
			release := st.finishedLocked()
			st.mu.Unlock()
			if grant {
				st.sess.w.queueWindow(st)
			}
			if more {
				signal(st.readable)
			}
			if release {
				st.sess.release(st)
			}
			return n, nil
		}
		if st.finRecv {
			st.mu.Unlock()
			signal(st.readable)
			return 0, io.EOF
		}
		if st.reset != nil {
			err := st.reset
			st.mu.Unlock()
			return 0, err
		}
		st.mu.Unlock()
		if st.sess.isDone() {
			return 0, st.sess.streamErr()
		}
		if len(p) == 0 {
			return 0, nil
		}
		select {
		case <-st.readable:
		case <-st.closedCh:
		case <-st.rd.Done():
		case <-st.sess.done:
		}
	}
}

// writeErrLocked is the error a Write gets now, if any.
func (st *Stream) writeErrLocked() error {
	switch {
	case st.reset != nil && !st.reset.Remote:
		return st.reset
	case st.closed:
		return st.opError("write", net.ErrClosed)
	case st.reset != nil:
		return st.reset
	case st.finSent:
		return st.opError("write", io.ErrClosedPipe)
	case st.sess.isDone():
		return st.sess.streamErr()
	}
	return nil
}

// Small writes are copied to a per-stream stage of this size, and written
// in batches; larger ones are written from the caller's buffer.
const (
	stageMax   = 32 << 10
	smallWrite = 8 << 10
)

// Write writes p to the stream, waiting for window from the peer as
// needed. Like a socket's, it returns before the bytes reach the peer:
// pieces of up to 8 KiB are copied to the stream's send stage (at most
// 32 KiB) and written in batches with other streams' frames; larger pieces
// are written straight from p, and Write returns once they are on the
// connection. Bytes are never sent beyond the peer's window.
func (st *Stream) Write(p []byte) (int, error) {
	st.wlock.Lock()
	defer st.wlock.Unlock()
	n := 0
	for {
		st.mu.Lock()
		if err := st.writeErrLocked(); err != nil {
			st.mu.Unlock()
			return n, err
		}
		if st.wd.Exceeded() {
			st.mu.Unlock()
			return n, st.opError("write", os.ErrDeadlineExceeded)
		}
		if n == len(p) {
			st.mu.Unlock()
			return n, nil
		}
		k := int(min(int64(len(p)-n), st.sendWindow, maxWriteChunk))
		if k > 0 && k <= smallWrite && len(st.stage)+k <= stageMax {
			if st.stage == nil {
				st.stage = make([]byte, 0, stageMax)
			}
			st.stage = append(st.stage, p[n:n+k]...)
			st.sendWindow -= int64(k)
			var err error
			if !st.staged {
				st.staged = true
				err = st.sess.w.enqueue(wreq{kind: reqStaged, id: st.id, st: st})
			}
			st.mu.Unlock()
			if err != nil {
				return n, err
			}
			n += k
			continue
		}
		if k > smallWrite {
			st.sendWindow -= int64(k)
			// Queued under st.mu, so that a FIN or RESET queued by
			// CloseWrite or Close comes after it.
			err := st.sess.w.enqueue(wreq{kind: reqData, id: st.id, p: p[n : n+k], done: st.wdone})
			st.mu.Unlock()
			if err != nil {
				return n, err
			}
			// The writer holds p until it reports; wait even past the
			// deadline (Config.WriteTimeout bounds this).
			if err := <-st.wdone; err != nil {
				return n, err
			}
			n += k
			continue
		}
		st.mu.Unlock()
		select {
		case <-st.writable:
		case <-st.closedCh:
		case <-st.wd.Done():
		case <-st.sess.done:
		}
	}
}

// CloseWrite sends FIN: the peer reads EOF once it has read everything
// written before. Reading goes on. Writes after it fail.
func (st *Stream) CloseWrite() error {
	st.mu.Lock()
	if st.closed {
		st.mu.Unlock()
		return st.opError("close", net.ErrClosed)
	}
	if st.finSent || st.reset != nil {
		st.mu.Unlock()
		return nil
	}
	st.finSent = true
	err := st.sess.w.enqueue(wreq{kind: reqFin, id: st.id})
	release := st.finishedLocked()
	st.mu.Unlock()
	signal(st.writable)
	if release {
		st.sess.release(st)
	}
	return err
}

// Close closes the stream: FIN for the data written so far, and RESET
// (CodeCancel) when the peer has not finished sending. Pending Reads and
// Writes return at once with net.ErrClosed, and so do later ones.
func (st *Stream) Close() error {
	return st.close(CodeCancel, false)
}

// Reset aborts the stream in both directions with code: the peer's reads
// (unless it already had FIN) and writes fail with a *ResetError, and so do
// this side's. Data not yet read is dropped.
func (st *Stream) Reset(code Code) error {
	return st.close(code, true)
}

func (st *Stream) close(code Code, abort bool) error {
	st.mu.Lock()
	if st.closed {
		st.mu.Unlock()
		return st.opError("close", net.ErrClosed)
	}
	st.closed = true
	close(st.closedCh)
	var err error
	live := st.reset == nil && !st.resetSent && !st.sess.isDone()
	if live && !abort && !st.finSent {
		st.finSent = true
		err = st.sess.w.enqueue(wreq{kind: reqFin, id: st.id})
	}
	if live && (abort || !st.finRecv) {
		st.resetSent = true
		if rerr := st.sess.w.enqueue(wreq{kind: reqReset, id: st.id, code: code}); err == nil {
			err = rerr
		}
	}
	if abort {
		st.stage, st.stageSpare = nil, nil // not worth sending now
		if st.reset == nil {
			st.reset = &ResetError{Code: code}
		}
	}
	st.dropBufLocked()
	release := st.finishedLocked()
	st.mu.Unlock()
	signal(st.readable)
	signal(st.writable)
	if release {
		st.sess.release(st)
	}
	if err != nil && st.sess.isDone() {
		return nil // nothing left to tell the peer
	}
	return err
}

// finishedLocked reports, once, that the stream is done in both directions
// and can be forgotten by its session. Called with st.mu held.
func (st *Stream) finishedLocked() bool {
	if st.released {
		return false
	}
	remoteReset := st.reset != nil && st.reset.Remote
	readDone := st.closed || st.resetSent || (remoteReset && !st.finRecv) || (st.finRecv && st.rpos == len(st.buf))
	writeDone := st.closed || st.resetSent || remoteReset || st.finSent
	if readDone && writeDone {
		st.released = true
		return true
	}
	return false
}

// admit checks that the peer may send n more bytes, before they are read
// from the connection.
func (st *Stream) admit(n int) error {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.finRecv {
		return fmt.Errorf("%w: DATA after FIN on stream %d", ErrProtocol, st.id)
	}
	if n > st.recvAvail {
		return fmt.Errorf("%w: %d bytes of DATA on stream %d, window %d", ErrFlowControl, n, st.id, st.recvAvail)
	}
	st.recvAvail -= n
	return nil
}

// deliver appends received bytes to the stream's buffer, unless nobody
// will read them.
func (st *Stream) deliver(b []byte) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.closed || st.reset != nil {
		return
	}
	if len(st.buf)+len(b) > cap(st.buf) {
		unread := len(st.buf) - st.rpos
		if st.rpos > 0 && unread+len(b) <= cap(st.buf) {
			st.buf = st.buf[:copy(st.buf, st.buf[st.rpos:])]
			st.rpos = 0
		} else {
			// Never more than the window: flow control bounds unread.
			size := min(max(2*cap(st.buf), unread+len(b), 4<<10), max(st.sess.cfg.Window, unread+len(b)))
			nb := make([]byte, unread, size)
			copy(nb, st.buf[st.rpos:])
			st.sess.addBuffered(cap(nb) - cap(st.buf))
			st.buf, st.rpos = nb, 0
		}
	}
	st.buf = append(st.buf, b...)
}

// dropBufLocked frees the receive buffer and its unread bytes. Called
// with st.mu held.
func (st *Stream) dropBufLocked() {
	if c := cap(st.buf); c > 0 {
		st.sess.addBuffered(-c)
	}
	st.buf, st.rpos = nil, 0
}

// onFin records the peer's FIN.
func (st *Stream) onFin() error {
	st.mu.Lock()
	if st.finRecv {
		st.mu.Unlock()
		return fmt.Errorf("%w: second FIN on stream %d", ErrProtocol, st.id)
	}
	st.finRecv = true
	if st.rpos == len(st.buf) {
		st.dropBufLocked() // read up: nothing more will arrive
	}
	release := st.finishedLocked()
	st.mu.Unlock()
	signal(st.readable)
	if release {
		st.sess.release(st)
	}
	return nil
}

// onReset records a reset by the peer. Data after a FIN stays readable;
// otherwise what is buffered is dropped.
func (st *Stream) onReset(code Code) {
	st.mu.Lock()
	if st.reset == nil {
		st.reset = &ResetError{Code: code, Remote: true}
		if !st.finRecv {
			st.dropBufLocked()
		}
	}
	release := st.finishedLocked()
	st.mu.Unlock()
	signal(st.readable)
	signal(st.writable)
	if release {
		st.sess.release(st)
	}
}

// onWindow adds the peer's grant to the send window.
func (st *Stream) onWindow(inc uint32) error {
	st.mu.Lock()
	st.sendWindow += int64(inc)
	over := st.sendWindow > MaxWindow
	st.mu.Unlock()
	if over {
		return fmt.Errorf("%w: window of stream %d grown past %d", ErrFlowControl, st.id, MaxWindow)
	}
	signal(st.writable)
	return nil
}

// takeUnacked returns the bytes read since the last window update and
// grants them back to the peer; 0 when the stream no longer receives.
func (st *Stream) takeUnacked() uint32 {
	st.mu.Lock()
	defer st.mu.Unlock()
	inc := st.unacked
	st.unacked, st.windowQueued = 0, false
	if st.finRecv || st.closed || st.reset != nil {
		return 0
	}
	st.recvAvail += int(inc)
	return inc
}

// takeStage hands the staged bytes to the writer and starts a new stage.
func (st *Stream) takeStage() []byte {
	st.mu.Lock()
	b := st.stage
	st.stage, st.stageSpare = st.stageSpare, nil
	st.staged = false
	st.mu.Unlock()
	signal(st.writable)
	return b
}

// returnStage gives a written stage back for reuse, unless the stream
// sends no more.
func (st *Stream) returnStage(b []byte) {
	st.mu.Lock()
	if b != nil && st.stageSpare == nil && !st.finSent && !st.closed && st.reset == nil {
		st.stageSpare = b[:0]
	}
	st.mu.Unlock()
}

// SetDeadline sets the read and write deadlines.
func (st *Stream) SetDeadline(t time.Time) error {
	st.rd.Set(t)
	st.wd.Set(t)
	return nil
}

// SetReadDeadline sets the deadline for Read.
func (st *Stream) SetReadDeadline(t time.Time) error {
	st.rd.Set(t)
	return nil
}

// SetWriteDeadline sets the deadline for Write.
func (st *Stream) SetWriteDeadline(t time.Time) error {
	st.wd.Set(t)
	return nil
}

var (
	_ vstream.Stream   = (*Stream)(nil)
	_ vstream.Digester = (*Stream)(nil)
	_ vstream.Dialer   = (*Session)(nil)
)
