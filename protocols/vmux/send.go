package vmux

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/sluice-proxy/sluice/vstream"
)

// maxCtrlBacklog bounds the control frames (PING answers, refusals) queued
// but not yet written: a peer that keeps sending PINGs or opening refused
// streams while it does not read ends its session with ErrControlFlood.
const maxCtrlBacklog = 64 << 10

// maxWriteChunk bounds the bytes one Write hands to the writer at a time.
const maxWriteChunk = 1 << 20

// reqKind is the kind of a stream frame waiting to be written.
type reqKind uint8

const (
	reqOpen   reqKind = iota
	reqData           // p belongs to a Write waiting on done
	reqStaged         // the stream's staged small writes, taken when written
	reqFin
	reqReset
)

// wreq is a stream frame waiting to be written: OPEN, DATA (split into
// frames of the peer's maximum size), FIN or RESET. A stream's frames are
// written in the order they were queued.
type wreq struct {
	kind reqKind
	id   uint32
	code Code
	p    []byte
	done chan error // reqData only: the result, once p is written
	st   *Stream    // reqStaged only: whose stage to take
}

// writer is a Session's sending half. Stream frames and control frames are
// queued and written by one goroutine, writeLoop, so that no reader of the
// connection ever blocks on writing it: the read loop only queues.
type writer struct {
	s   *Session
	out io.Writer // the connection, or the socket under an Unwrapper
	dl  interface{ SetWriteDeadline(time.Time) error }

	mu         sync.Mutex
	ctrl       []byte    // encoded control frames
	ctrlFrames int       // how many are in ctrl
	wins       []*Stream // streams with a window update to send
	data       []wreq
	closed     bool  // writeLoop has stopped
	failAfter  error // end the session once what is queued is written
	wake       chan struct{}
}

func (w *writer) init(s *Session) {
	w.s = s
	w.wake = make(chan struct{}, 1)
	w.out, w.dl = s.conn, s.conn
	// A wrapper that adds no framing passes writes through unchanged:
	// write to what it wraps, so writev reaches the socket.
	var c net.Conn = s.conn
	for range 8 {
		u, ok := c.(vstream.Unwrapper)
		if !ok {
			break
		}
		next := u.Unwrap()
		if next == nil {
			break
		}
		c = next
	}
	w.out, w.dl = c, c
}

// closedErr is what queueing fails with once the session is ending.
func (w *writer) closedErr() error {
	if err := w.s.Err(); err != nil {
		return err
	}
	if w.failAfter != nil {
		return w.failAfter
	}
	return ErrSessionClosed
}

// enqueue queues a stream frame.
func (w *writer) enqueue(r wreq) error {
	w.mu.Lock()
	if w.closed || w.failAfter != nil {
		err := w.closedErr()
		w.mu.Unlock()
		return err
	}
	w.data = append(w.data, r)
	w.mu.Unlock()
	signal(w.wake)
	return nil
}

// queueCtrl queues a control frame, failing with ErrControlFlood when too
// many are waiting.
func (w *writer) queueCtrl(f Frame) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed || w.failAfter != nil {
		return w.closedErr()
	}
	if len(w.ctrl)+HeaderLen+len(f.Payload) > maxCtrlBacklog {
		return fmt.Errorf("%w: %d bytes waiting", ErrControlFlood, len(w.ctrl))
	}
	w.ctrl = AppendFrame(w.ctrl, f)
	w.ctrlFrames++
	signal(w.wake)
	return nil
}

// queueWindow asks for a window update of st to be sent; the increment is
// taken when it is written, so updates coalesce.
func (w *writer) queueWindow(st *Stream) {
	w.mu.Lock()
	if !w.closed {
		w.wins = append(w.wins, st)
	}
	w.mu.Unlock()
	signal(w.wake)
}

// finish queues f (when not nil) as the last frame, after which writeLoop
// ends the session with err. It reports false when the writer has stopped.
func (w *writer) finish(f *Frame, err error) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return false
	}
	if f != nil {
		w.ctrl = AppendFrame(w.ctrl, *f)
		w.ctrlFrames++
	}
	if w.failAfter == nil {
		w.failAfter = err
	}
	signal(w.wake)
	return true
}

// writeLoop is the goroutine that writes a Session's frames: control frames
// first, then stream frames in order, as many as are queued in one writev.
func (s *Session) writeLoop() {
	w := &s.w
	var (
		ctrl []byte
		reqs []wreq
		wins []*Stream
		hdrs []byte
		bufs net.Buffers
		wb   net.Buffers // what WriteTo consumes; escapes once, here
	)
	for {
		select {
		case <-w.wake:
		case <-s.done:
			w.stop(s.err)
			return
		}
		for {
			w.mu.Lock()
			ctrl, w.ctrl = w.ctrl, ctrl[:0]
			frames := w.ctrlFrames
			w.ctrlFrames = 0
			reqs, w.data = w.data, reqs[:0]
			wins, w.wins = w.wins, wins[:0]
			failAfter := w.failAfter
			w.mu.Unlock()
			if len(ctrl) == 0 && len(reqs) == 0 && len(wins) == 0 {
				if failAfter != nil {
					s.fail(failAfter)
					w.stop(s.err)
					return
				}
				break
			}
			for i := range reqs {
				if r := &reqs[i]; r.kind == reqStaged {
					r.p = r.st.takeStage()
				}
			}
			for i, st := range wins {
				if inc := st.takeUnacked(); inc > 0 {
					ctrl = appendHeader(ctrl, 4, FrameWindow, 0, st.id)
					ctrl = binary.BigEndian.AppendUint32(ctrl, inc)
					frames++
				}
				wins[i] = nil
			}
			bufs = bufs[:0]
			if len(ctrl) > 0 {
				bufs = append(bufs, ctrl)
			}
			var n int
			hdrs, bufs, n = s.encodeReqs(hdrs, bufs, reqs)
			frames += n
			if len(bufs) > 0 {
				if wt := s.cfg.WriteTimeout; wt > 0 {
					w.dl.SetWriteDeadline(time.Now().Add(wt))
				}
				// WriteTo consumes the slice it is called on: keep bufs'
				// backing array for the next batch.
				wb = bufs
				_, err := wb.WriteTo(w.out)
				clear(bufs) // drop references to payloads
				if err != nil {
					err = s.writeError(err)
					for i := range reqs {
						if reqs[i].done != nil {
							reqs[i].done <- err
						}
						reqs[i] = wreq{}
					}
					s.fail(err)
					w.stop(s.err)
					return
				}
				s.counters.framesSent.Add(uint64(frames))
			}
			for i := range reqs {
				r := &reqs[i]
				switch r.kind {
				case reqData:
					s.counters.bytesSent.Add(uint64(len(r.p)))
					r.done <- nil
				case reqStaged:
					s.counters.bytesSent.Add(uint64(len(r.p)))
					r.st.returnStage(r.p)
				case reqReset:
					s.counters.resetsSent.Add(1)
				}
				reqs[i] = wreq{}
			}
			if failAfter != nil {
				s.fail(failAfter)
				w.stop(s.err)
				return
			}
		}
	}
}

// encodeReqs appends the frames of reqs to bufs: headers (and RESET codes)
// go into hdrs, DATA payloads are referenced where they are. It returns
// the grown hdrs and bufs and the number of frames.
func (s *Session) encodeReqs(hdrs []byte, bufs net.Buffers, reqs []wreq) ([]byte, net.Buffers, int) {
	maxF := int(s.peerMaxFrame.Load()) // set from HELLO before any DATA is queued
	need := 0
	for i := range reqs {
		switch r := &reqs[i]; r.kind {
		case reqData, reqStaged:
			need += HeaderLen * ((len(r.p) + maxF - 1) / maxF)
		case reqReset:
			need += HeaderLen + 4
		default:
			need += HeaderLen
		}
	}
	// Grown once, so that the slices of hdrs put in bufs stay valid.
	hdrs = slices.Grow(hdrs[:0], need)
	start, frames := 0, 0
	for i := range reqs {
		r := &reqs[i]
		switch r.kind {
		case reqOpen:
			hdrs = appendHeader(hdrs, 0, FrameOpen, 0, r.id)
			frames++
		case reqFin:
			hdrs = appendHeader(hdrs, 0, FrameFin, 0, r.id)
			frames++
		case reqReset:
			hdrs = appendHeader(hdrs, 4, FrameReset, 0, r.id)
			hdrs = binary.BigEndian.AppendUint32(hdrs, uint32(r.code))
			frames++
		case reqData, reqStaged:
			for p := r.p; len(p) > 0; {
				k := min(len(p), maxF)
				hdrs = appendHeader(hdrs, k, FrameData, 0, r.id)
				bufs = append(bufs, hdrs[start:len(hdrs)], p[:k])
				start = len(hdrs)
				frames++
				p = p[k:]
			}
		}
	}
	if start < len(hdrs) {
		bufs = append(bufs, hdrs[start:len(hdrs)])
	}
	return hdrs, bufs, frames
}

// writeError classifies an error writing the connection.
func (s *Session) writeError(err error) error {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return fmt.Errorf("%w (%v)", ErrWriteTimeout, s.cfg.WriteTimeout)
	}
	if e := s.Err(); e != nil {
		return e
	}
	return fmt.Errorf("vmux: write: %w", err)
}

// stop marks the writer stopped and fails the DATA still queued.
func (w *writer) stop(err error) {
	w.mu.Lock()
	w.closed = true
	reqs := w.data
	w.data, w.wins, w.ctrl = nil, nil, nil
	w.mu.Unlock()
	for i := range reqs {
		if reqs[i].done != nil {
			reqs[i].done <- err
		}
	}
}
