package http2

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// Handler serves one stream, on a goroutine of its own. When it returns,
// a response it began is ended (END_STREAM) and a stream it never answered
// is reset (INTERNAL_ERROR).
type Handler func(st *Stream)

// conn is one server connection. The read loop (Serve's goroutine) owns
// the frame reader; mu guards the rest of the state, which stream
// goroutines share.
type conn struct {
	c   net.Conn
	lim Limits
	h   Handler

	rfr *http2.Framer
	wq  chan func(*writer) error // frames to write, in order
	// dataBufs holds the copies of DATA payloads queued for the writer
	// (*[]byte of dataBufSize), given back once the frame is written.
	dataBufs sync.Pool
	wg       sync.WaitGroup // handlers and the writer
	// idle hands a new stream to a handler goroutine that finished its
	// last one (kept, with its grown stack, until the connection ends);
	// done tells them the connection ended.
	idle chan *Stream
	done chan struct{}

	mu        sync.Mutex
	cond      *sync.Cond // send windows grew, or a stream or the conn ended
	streams   map[uint32]*Stream
	lastID    uint32 // highest client stream id seen
	sendWin   int64  // the client's connection window for our DATA
	peerWin   int32  // the client's SETTINGS_INITIAL_WINDOW_SIZE
	peerMax   uint32 // the client's SETTINGS_MAX_FRAME_SIZE
	recvWin   int64  // what the client may still send on the connection
	consumed  int64  // connection bytes handlers read, not yet returned
	closed    bool
	goingAway bool // the client sent GOAWAY: no new streams

	resets, control rate
}

// writer is the writer goroutine's state: the socket's buffered writer,
// its Framer and the HPACK encoder.
type writer struct {
	bw  *bufio.Writer
	fr  *http2.Framer
	enc *hpack.Encoder
	buf bytes.Buffer
}

// Serve serves HTTP/2 on c: it reads the client preface, then frames,
// runs h for each stream, and returns when the connection ends, after
// every handler has returned: nil when the client closed or went away
// cleanly, else an error matching ErrPreface, ErrProtocol or ErrCalm, or
// the read error. It closes c.
func Serve(c net.Conn, lim Limits, h Handler) error {
	return ServeDrain(c, lim, h, nil)
}

// ServeDrain is Serve with a graceful end: once drain is closed, the
// connection sends GOAWAY (NO_ERROR), refuses new streams, lets the open
// ones finish, and then ends (Serve returns nil).
func ServeDrain(c net.Conn, lim Limits, h Handler, drain <-chan struct{}) error {
	lim = lim.withDefaults()
	cn := &conn{
		c: c, lim: lim, h: h,
		wq:      make(chan func(*writer) error, 64),
		idle:    make(chan *Stream),
		done:    make(chan struct{}),
		streams: map[uint32]*Stream{},
		sendWin: 65535, peerWin: 65535, peerMax: 16384,
		recvWin: int64(lim.ConnWindow),
		resets:  rate{perSecond: float64(lim.MaxResetsPerSecond)},
		control: rate{perSecond: float64(lim.MaxControlPerSecond)},
	}
	cn.cond = sync.NewCond(&cn.mu)
	br := bufio.NewReaderSize(c, 16<<10)
	cn.rfr = http2.NewFramer(nil, br)
	cn.rfr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	cn.rfr.MaxHeaderListSize = lim.MaxHeaderListSize
	cn.rfr.SetMaxReadFrameSize(lim.MaxFrameSize)
	w := &writer{bw: bufio.NewWriterSize(c, 16<<10)}
	w.fr = http2.NewFramer(w.bw, nil)
	w.enc = hpack.NewEncoder(&w.buf)
	cn.wg.Add(1)
	writerDone := make(chan struct{})
	go func() {
		defer cn.wg.Done()
		defer close(writerDone)
		cn.writeLoop(w)
	}()
	if drain != nil {
		go func() {
			select {
			case <-drain:
				cn.startDrain()
			case <-cn.done:
			}
		}()
	}
	err := cn.readLoop(br)
	cn.shutdown()
	// The writer writes what is queued (a GOAWAY last) before the close,
	// within a second: a client that stopped reading does not hold it.
	c.SetWriteDeadline(time.Now().Add(time.Second))
	<-writerDone
	lingerClose(c, br)
	cn.wg.Wait()
	return err
}

// lingerClose half-closes c and reads what the client still sends (for at
// most a second and 64 KiB) before closing: closing with bytes unread would
// reset the connection and could destroy the GOAWAY in flight.
func lingerClose(c net.Conn, br *bufio.Reader) {
	defer c.Close()
	cw, ok := c.(interface{ CloseWrite() error })
	if !ok || cw.CloseWrite() != nil {
		return
	}
	c.SetReadDeadline(time.Now().Add(time.Second))
	io.Copy(io.Discard, io.LimitReader(br, 64<<10))
}

// writeLoop runs queued writes, flushing whenever the queue is empty.
func (cn *conn) writeLoop(w *writer) {
	for f := range cn.wq {
		err := f(w)
		// Drain what is queued; once empty, let the other goroutines run
		// once (handlers about to queue their frames) and drain again,
		// so that one flush carries the frames of many streams.
		yielded := false
	drain:
		for err == nil {
			select {
			case f, ok := <-cn.wq:
				if !ok {
					break drain
				}
				err = f(w)
			default:
				if yielded {
					break drain
				}
				yielded = true
				runtime.Gosched()
			}
		}
		if err == nil {
			err = w.bw.Flush()
		}
		if err != nil {
			cn.c.Close() // the read loop ends too
			for range cn.wq {
			}
			return
		}
	}
	w.bw.Flush()
}

// queue hands f to the writer; false when the connection is closing.
func (cn *conn) queue(f func(*writer) error) bool {
	cn.mu.Lock()
	defer cn.mu.Unlock()
	if cn.closed {
		return false
	}
	cn.wq <- f
	return true
}

// shutdown ends every stream, stops the writer once it has written what
// is queued, and wakes whoever waits.
func (cn *conn) shutdown() {
	cn.mu.Lock()
	if cn.closed {
		cn.mu.Unlock()
		return
	}
	cn.closed = true
	close(cn.done)
	for _, st := range cn.streams {
		st.body.fail(errConnClosed)
		st.reset = true
	}
	close(cn.wq)
	cn.cond.Broadcast()
	cn.mu.Unlock()
}

var errConnClosed = errors.New("http2: connection closed")

// goAway sends GOAWAY with code and returns err (wrapped with kind).
func (cn *conn) goAway(code http2.ErrCode, kind error, why string) error {
	cn.mu.Lock()
	last := cn.lastID
	cn.mu.Unlock()
	cn.queue(func(w *writer) error { return w.fr.WriteGoAway(last, code, []byte(why)) })
	return fmt.Errorf("%w: %s (%s)", kind, why, code)
}

// readLoop reads the preface and then every frame.
func (cn *conn) readLoop(br *bufio.Reader) error {
	cn.c.SetReadDeadline(time.Now().Add(cn.lim.SettingsTimeout))
	preface := make([]byte, len(http2.ClientPreface))
	if _, err := io.ReadFull(br, preface); err != nil || string(preface) != http2.ClientPreface {
		if err == nil {
			err = errors.New("preface mismatch")
		}
		return fmt.Errorf("%w: %w", ErrPreface, err)
	}
	cn.c.SetReadDeadline(time.Time{})
	lim := cn.lim
	cn.queue(func(w *writer) error {
		settings := []http2.Setting{
			{ID: http2.SettingMaxConcurrentStreams, Val: lim.MaxConcurrentStreams},
			{ID: http2.SettingInitialWindowSize, Val: lim.StreamWindow},
			{ID: http2.SettingMaxFrameSize, Val: lim.MaxFrameSize},
			{ID: http2.SettingMaxHeaderListSize, Val: lim.MaxHeaderListSize},
		}
		if lim.ExtendedConnect {
			settings = append(settings, http2.Setting{ID: http2.SettingEnableConnectProtocol, Val: 1})
		}
		err := w.fr.WriteSettings(settings...)
		if err == nil && lim.ConnWindow > 65535 {
			err = w.fr.WriteWindowUpdate(0, lim.ConnWindow-65535)
		}
		return err
	})
	first := true
	idleArmed := false
	for {
		cn.mu.Lock()
		drained := cn.goingAway && len(cn.streams) == 0
		cn.mu.Unlock()
		if drained {
			return nil
		}
		// With no stream open, the idle bound applies to the next frame.
		if cn.lim.IdleTimeout > 0 {
			cn.mu.Lock()
			open := len(cn.streams)
			cn.mu.Unlock()
			switch {
			case open == 0:
				cn.c.SetReadDeadline(time.Now().Add(cn.lim.IdleTimeout))
				idleArmed = true
			case idleArmed:
				cn.c.SetReadDeadline(time.Time{})
				idleArmed = false
			}
		}
		f, err := cn.rfr.ReadFrame()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				cn.mu.Lock()
				away := cn.goingAway
				cn.mu.Unlock()
				if away { // woken by startDrain or the last stream's end
					return nil
				}
				if idleArmed {
					cn.goAway(http2.ErrCodeNo, ErrProtocol, "idle")
					return nil
				}
			}
			return cn.readError(err)
		}

		if first {
			if _, ok := f.(*http2.SettingsFrame); !ok {
				return cn.goAway(http2.ErrCodeProtocol, ErrProtocol, "the first frame must be SETTINGS")
			}
			first = false
		}
		if err := cn.frame(f); err != nil {
			return err
		}
		cn.mu.Lock()
		done := cn.goingAway && len(cn.streams) == 0
		cn.mu.Unlock()
		if done {
			return nil
		}
	}
}

// readError turns a read error into the connection's end.
func (cn *conn) readError(err error) error {
	var ce http2.ConnectionError
	switch {
	case errors.As(err, &ce):
		return cn.goAway(http2.ErrCode(ce), ErrProtocol, err.Error())
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed):
		return nil // the client went away (mid-frame or not)
	}
	var se http2.StreamError
	var ne net.Error
	switch {
	case errors.As(err, &se):
		// The Framer reports some malformed frames per stream.
		return cn.goAway(se.Code, ErrProtocol, err.Error())
	case errors.Is(err, http2.ErrFrameTooLarge):
		return cn.goAway(http2.ErrCodeFrameSize, ErrProtocol, err.Error())
	case errors.As(err, &ne):
		return err // the socket's own failure
	}
	// Anything else is the Framer refusing what it read.
	return cn.goAway(http2.ErrCodeProtocol, ErrProtocol, err.Error())
}

// frame handles one frame from the client.
func (cn *conn) frame(f http2.Frame) error {
	switch f := f.(type) {
	case *http2.MetaHeadersFrame:
		return cn.headers(f)
	case *http2.DataFrame:
		return cn.data(f)
	case *http2.SettingsFrame:
		return cn.settings(f)
	case *http2.PingFrame:
		if f.IsAck() {
			return nil
		}
		if !cn.control.take(time.Now()) {
			return cn.goAway(http2.ErrCodeEnhanceYourCalm, ErrCalm, "PING flood")
		}
		data := f.Data
		cn.queue(func(w *writer) error { return w.fr.WritePing(true, data) })
	case *http2.WindowUpdateFrame:
		return cn.windowUpdate(f)
	case *http2.RSTStreamFrame:
		return cn.rstStream(f)
	case *http2.GoAwayFrame:
		cn.mu.Lock()
		cn.goingAway = true
		cn.mu.Unlock()
	case *http2.PriorityFrame:
		if f.StreamDep == f.StreamID {
			id := f.StreamID
			cn.mu.Lock()
			if st := cn.streams[id]; st != nil {
				st.resetLocked(http2.ErrCodeProtocol)
				cn.mu.Unlock()
				return nil
			}
			cn.mu.Unlock()
			cn.queue(func(w *writer) error { return w.fr.WriteRSTStream(id, http2.ErrCodeProtocol) })
		}
	case *http2.PushPromiseFrame:
		return cn.goAway(http2.ErrCodeProtocol, ErrProtocol, "PUSH_PROMISE from a client")
	case *http2.ContinuationFrame:
		// ReadMetaHeaders merges CONTINUATION into its HEADERS; one alone
		// is out of place.
		return cn.goAway(http2.ErrCodeProtocol, ErrProtocol, "CONTINUATION without HEADERS")
	}
	return nil
}

// settings applies the client's SETTINGS and acknowledges them.
func (cn *conn) settings(f *http2.SettingsFrame) error {
	if f.IsAck() {
		return nil
	}
	if !cn.control.take(time.Now()) {
		return cn.goAway(http2.ErrCodeEnhanceYourCalm, ErrCalm, "SETTINGS flood")
	}
	var tableSize uint32
	var hasTable bool
	err := f.ForeachSetting(func(s http2.Setting) error {
		if err := s.Valid(); err != nil {
			return err
		}
		switch s.ID {
		case http2.SettingInitialWindowSize:
			cn.mu.Lock()
			delta := int64(s.Val) - int64(cn.peerWin)
			cn.peerWin = int32(s.Val)
			for _, st := range cn.streams {
				st.sendWin += delta
				if st.sendWin > 1<<31-1 {
					cn.mu.Unlock()
					return http2.ConnectionError(http2.ErrCodeFlowControl)
				}
			}
			cn.cond.Broadcast()
			cn.mu.Unlock()
		case http2.SettingMaxFrameSize:
			cn.mu.Lock()
			cn.peerMax = s.Val
			cn.mu.Unlock()
		case http2.SettingHeaderTableSize:
			tableSize, hasTable = s.Val, true
		}
		return nil
	})
	if err != nil {
		var ce http2.ConnectionError
		if errors.As(err, &ce) {
			return cn.goAway(http2.ErrCode(ce), ErrProtocol, "bad SETTINGS")
		}
		return cn.goAway(http2.ErrCodeProtocol, ErrProtocol, err.Error())
	}
	cn.queue(func(w *writer) error {
		if hasTable {
			w.enc.SetMaxDynamicTableSizeLimit(tableSize)
		}
		return w.fr.WriteSettingsAck()
	})
	return nil
}

// windowUpdate grows a send window.
func (cn *conn) windowUpdate(f *http2.WindowUpdateFrame) error {
	cn.mu.Lock()
	defer cn.mu.Unlock()
	if f.StreamID == 0 {
		cn.sendWin += int64(f.Increment)
		if cn.sendWin > 1<<31-1 {
			cn.mu.Unlock()
			err := cn.goAway(http2.ErrCodeFlowControl, ErrProtocol, "connection window over 2^31-1")
			cn.mu.Lock()
			return err
		}
		cn.cond.Broadcast()
		return nil
	}
	st := cn.streams[f.StreamID]
	if st == nil {
		if f.StreamID > cn.lastID {
			cn.mu.Unlock()
			err := cn.goAway(http2.ErrCodeProtocol, ErrProtocol, "WINDOW_UPDATE on an idle stream")
			cn.mu.Lock()
			return err
		}
		return nil // a stream that ended: ignored
	}
	st.sendWin += int64(f.Increment)
	if st.sendWin > 1<<31-1 {
		st.resetLocked(http2.ErrCodeFlowControl)
		return nil
	}
	cn.cond.Broadcast()
	return nil
}

// rstStream ends a stream the client cancelled, within the reset rate.
func (cn *conn) rstStream(f *http2.RSTStreamFrame) error {
	if !cn.resets.take(time.Now()) {
		return cn.goAway(http2.ErrCodeEnhanceYourCalm, ErrCalm, "too many streams reset (rapid reset)")
	}
	cn.mu.Lock()
	defer cn.mu.Unlock()
	if f.StreamID > cn.lastID {
		cn.mu.Unlock()
		err := cn.goAway(http2.ErrCodeProtocol, ErrProtocol, "RST_STREAM on an idle stream")
		cn.mu.Lock()
		return err
	}
	if st := cn.streams[f.StreamID]; st != nil {
		st.reset = true
		st.body.fail(fmt.Errorf("http2: stream reset by the client (%s)", f.ErrCode))
		cn.endLocked(st)
		cn.cond.Broadcast()
	}
	return nil
}

// headers opens a stream, or carries a stream's trailers.
func (cn *conn) headers(f *http2.MetaHeadersFrame) error {
	id := f.StreamID
	cn.mu.Lock()
	if st := cn.streams[id]; st != nil {
		if st.body.ended() {
			// Half closed (remote): nothing more may come from the client.
			st.resetLocked(http2.ErrCodeStreamClosed)
			cn.mu.Unlock()
			return nil
		}
		cn.mu.Unlock()
		// Trailers: they must end the stream.
		if !f.StreamEnded() {
			return cn.goAway(http2.ErrCodeProtocol, ErrProtocol, "trailers without END_STREAM")
		}
		if !st.body.checkLength() {
			st.Reset(http2.ErrCodeProtocol)
			return nil
		}
		st.body.trailers(f.RegularFields())
		return nil
	}
	if id%2 == 0 || id <= cn.lastID {
		cn.mu.Unlock()
		return cn.goAway(http2.ErrCodeProtocol, ErrProtocol, "HEADERS on a stream id not new and odd")
	}
	cn.lastID = id
	if f.HeadersFrame.HasPriority() && f.HeadersFrame.Priority.StreamDep == id {
		cn.mu.Unlock()
		cn.queue(func(w *writer) error { return w.fr.WriteRSTStream(id, http2.ErrCodeProtocol) })
		return nil
	}
	if cn.goingAway || uint32(len(cn.streams)) >= cn.lim.MaxConcurrentStreams {
		cn.mu.Unlock()
		cn.queue(func(w *writer) error { return w.fr.WriteRSTStream(id, http2.ErrCodeRefusedStream) })
		return nil
	}
	st := newStream(cn, id, f)
	if err := st.validate(cn.lim.ExtendedConnect); err != nil || (st.body.eof && !st.body.checkLength()) {
		cn.mu.Unlock()
		cn.queue(func(w *writer) error { return w.fr.WriteRSTStream(id, http2.ErrCodeProtocol) })
		return nil
	}
	cn.streams[id] = st
	cn.mu.Unlock()
	select {
	case cn.idle <- st: // a kept goroutine takes it
	default:
		cn.wg.Add(1)
		go cn.worker(st)
	}
	return nil
}

// worker runs handlers: st's, then the streams handed to it while it is
// idle, until the connection ends. Keeping it saves a goroutine start and
// the growth of its stack per stream.
func (cn *conn) worker(st *Stream) {
	defer cn.wg.Done()
	for {
		cn.h(st)
		st.finish()
		select {
		case st = <-cn.idle:
		case <-cn.done:
			return
		}
	}
}

// data hands a DATA frame's payload to its stream, under flow control.
func (cn *conn) data(f *http2.DataFrame) error {
	n := int64(f.Length) // padding counts against the windows too
	cn.mu.Lock()
	if n > cn.recvWin {
		cn.mu.Unlock()
		return cn.goAway(http2.ErrCodeFlowControl, ErrProtocol, "DATA over the connection window")
	}
	cn.recvWin -= n
	st := cn.streams[f.StreamID]
	if st == nil || st.body.ended() {
		idle := f.StreamID > cn.lastID
		cn.mu.Unlock()
		if idle {
			return cn.goAway(http2.ErrCodeProtocol, ErrProtocol, "DATA on an idle stream")
		}
		// A stream that ended: the bytes are dropped and given back.
		id := f.StreamID
		cn.returnConn(n)
		cn.queue(func(w *writer) error { return w.fr.WriteRSTStream(id, http2.ErrCodeStreamClosed) })
		return nil
	}
	if n > st.recvWin {
		st.resetLocked(http2.ErrCodeFlowControl)
		cn.mu.Unlock()
		cn.returnConn(n)
		return nil
	}
	st.recvWin -= n
	pad := n - int64(len(f.Data()))
	if !st.body.count(len(f.Data()), f.StreamEnded()) {
		// The body disagrees with its content-length (RFC 9113 8.1.1).
		st.resetLocked(http2.ErrCodeProtocol)
		cn.mu.Unlock()
		cn.returnConn(n)
		return nil
	}
	cn.mu.Unlock()
	st.body.write(f.Data(), f.StreamEnded())
	if pad > 0 {
		st.body.consumed(int(pad))
	}
	return nil
}

// returnConn gives n bytes of connection window back to the client once
// half the window has been used.
func (cn *conn) returnConn(n int64) {
	cn.mu.Lock()
	cn.consumed += n
	inc := cn.consumed
	if inc < int64(cn.lim.ConnWindow)/2 {
		cn.mu.Unlock()
		return
	}
	cn.consumed = 0
	cn.recvWin += inc
	cn.mu.Unlock()
	cn.queue(func(w *writer) error { return w.fr.WriteWindowUpdate(0, uint32(inc)) })
}

// endLocked removes st from the connection (cn.mu held); the last stream
// of a draining connection wakes the read loop to end it.
func (cn *conn) endLocked(st *Stream) {
	if cn.streams[st.ID] == st {
		delete(cn.streams, st.ID)
		if cn.goingAway && len(cn.streams) == 0 {
			cn.c.SetReadDeadline(time.Unix(1, 0))
		}
	}
}

// startDrain begins a graceful end: GOAWAY (NO_ERROR), no new streams, the
// read loop woken once no stream is left.
func (cn *conn) startDrain() {
	cn.mu.Lock()
	if cn.closed || cn.goingAway {
		cn.mu.Unlock()
		return
	}
	cn.goingAway = true
	last, open := cn.lastID, len(cn.streams)
	cn.mu.Unlock()
	cn.queue(func(w *writer) error { return w.fr.WriteGoAway(last, http2.ErrCodeNo, []byte("shutdown")) })
	if open == 0 {
		cn.c.SetReadDeadline(time.Unix(1, 0))
	}
}

// lower reports whether s has an upper-case letter.
func hasUpper(s string) bool { return strings.ToLower(s) != s }
