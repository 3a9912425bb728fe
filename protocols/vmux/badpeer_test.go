package vmux

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"
)

// fr encodes one frame, valid or not.
func fr(t FrameType, flags uint8, id uint32, payload []byte) []byte {
	return append(appendHeader(nil, len(payload), t, flags, id), payload...)
}

func u32(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }

// helloBytes is a raw peer's HELLO.
func helloBytes(window, maxFrame, maxStreams uint32) []byte {
	return AppendFrame(nil, HelloFrame(Hello{Window: window, MaxFrameSize: maxFrame, MaxStreams: maxStreams}))
}

// rawPeer is a hand-driven peer: it writes whatever bytes a test gives it
// and reads the frames the session sends.
type rawPeer struct {
	t  *testing.T
	c  net.Conn
	br *bufio.Reader
}

// serveRaw starts a session of the given side over loopback TCP against a
// raw peer. The session's end is sent on the returned channel.
func serveRaw(t *testing.T, client bool, cfg Config) (*Session, *rawPeer, <-chan error) {
	t.Helper()
	return serveRawSmall(t, client, cfg, 0)
}

// serveRawSmall is serveRaw with the session's socket send buffer set to
// bufSize bytes (when not 0), so that a peer that does not read blocks the
// session's writes sooner. (Shrinking the raw peer's receive buffer too can
// stall loopback TCP in the other direction as well.)
func serveRawSmall(t *testing.T, client bool, cfg Config, bufSize int) (*Session, *rawPeer, <-chan error) {
	t.Helper()
	c, s := tcpPair(t)
	if bufSize > 0 {
		s.(*net.TCPConn).SetWriteBuffer(bufSize)
	}
	ended := make(chan error, 1)
	cfg.OnClose = func(_ *Session, err error) { ended <- err }
	var sess *Session
	if client {
		sess = Client(s, cfg)
	} else {
		sess = Server(s, cfg)
	}
	t.Cleanup(func() { sess.Close() })
	return sess, &rawPeer{t: t, c: c, br: bufio.NewReader(c)}, ended
}

func (p *rawPeer) send(b ...[]byte) {
	p.t.Helper()
	for _, x := range b {
		if _, err := p.c.Write(x); err != nil {
			p.t.Fatalf("raw peer write: %v", err)
		}
	}
}

// next reads the next frame the session sent.
func (p *rawPeer) next() (Frame, error) {
	p.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	var hdr [HeaderLen]byte
	if _, err := io.ReadFull(p.br, hdr[:]); err != nil {
		return Frame{}, err
	}
	h := decodeHeader(hdr[:])
	b := make([]byte, HeaderLen+int(h.length))
	copy(b, hdr[:])
	if _, err := io.ReadFull(p.br, b[HeaderLen:]); err != nil {
		return Frame{}, err
	}
	f, _, err := ParseFrame(b, MaxFrameSizeLimit)
	return f, err
}

// waitFrame reads frames until one of type typ (for stream id, when not 0).
func (p *rawPeer) waitFrame(typ FrameType, id uint32) Frame {
	p.t.Helper()
	for {
		f, err := p.next()
		if err != nil {
			p.t.Fatalf("waiting for %s: %v", typ, err)
		}
		if f.Type == typ && (id == 0 || f.StreamID == id) {
			return f
		}
	}
}

// waitEnd waits for a session's end.
func waitEnd(t *testing.T, ended <-chan error) error {
	t.Helper()
	select {
	case err := <-ended:
		return err
	case <-time.After(10 * time.Second):
		buf := make([]byte, 1<<20)
		t.Fatalf("session did not end; goroutines:\n%s", buf[:runtime.Stack(buf, true)])
		return nil
	}
}

func TestMalformedFrames(t *testing.T) {
	const window, maxFrame = 2048, 1024
	hello := helloBytes(64<<10, 16<<10, 100)
	badMagic := helloBytes(64<<10, 16<<10, 100)
	copy(badMagic[HeaderLen:], "vmuy")
	badVersion := helloBytes(64<<10, 16<<10, 100)
	badVersion[HeaderLen+5] = 2
	tests := []struct {
		name   string
		frames [][]byte
		want   error
	}{
		{"not hello first", [][]byte{fr(FrameOpen, 0, 1, nil)}, ErrProtocol},
		{"second hello", [][]byte{hello, hello}, ErrProtocol},
		{"hello bad magic", [][]byte{badMagic}, ErrBadValue},
		{"hello bad version", [][]byte{badVersion}, ErrBadValue},
		{"hello small frame size", [][]byte{helloBytes(1024, 100, 1)}, ErrBadValue},
		{"hello zero window", [][]byte{helloBytes(0, 1024, 1)}, ErrBadValue},
		{"unknown type", [][]byte{hello, fr(0x9, 0, 0, nil)}, ErrUnknownFrame},
		{"flags on data", [][]byte{hello, fr(FrameOpen, 0, 1, nil), fr(FrameData, 0x1, 1, []byte("x"))}, ErrFlags},
		{"undefined ping flag", [][]byte{hello, fr(FramePing, 0x2, 0, make([]byte, 8))}, ErrFlags},
		{"data on stream 0", [][]byte{hello, fr(FrameData, 0, 0, []byte("x"))}, ErrStreamID},
		{"ping on a stream", [][]byte{hello, fr(FramePing, 0, 1, make([]byte, 8))}, ErrStreamID},
		{"reserved id bit", [][]byte{hello, fr(FrameOpen, 0, 1<<31|1, nil)}, ErrStreamID},
		{"stream id reused", [][]byte{hello, fr(FrameOpen, 0, 1, nil), fr(FrameOpen, 0, 1, nil)}, ErrStreamID},
		{"stream id decreasing", [][]byte{hello, fr(FrameOpen, 0, 5, nil), fr(FrameOpen, 0, 3, nil)}, ErrStreamID},
		{"server parity from client", [][]byte{hello, fr(FrameOpen, 0, 2, nil)}, ErrStreamID},
		{"open with payload", [][]byte{hello, fr(FrameOpen, 0, 1, []byte("x"))}, ErrFrameSize},
		{"short reset", [][]byte{hello, fr(FrameOpen, 0, 1, nil), fr(FrameReset, 0, 1, []byte{0, 0, 1})}, ErrFrameSize},
		{"long ping", [][]byte{hello, fr(FramePing, 0, 0, make([]byte, 9))}, ErrFrameSize},
		{"goaway reason too long", [][]byte{hello, fr(FrameGoAway, 0, 0, make([]byte, 8+MaxGoAwayReason+1))}, ErrFrameSize},
		{"oversized data", [][]byte{hello, fr(FrameOpen, 0, 1, nil), fr(FrameData, 0, 1, make([]byte, maxFrame+1))}, ErrFrameTooLarge},
		// The header alone is enough: the payload never comes.
		{"huge length", [][]byte{hello, {0xff, 0xff, 0xff, byte(FrameData), 0, 0, 0, 0, 1}}, ErrFrameTooLarge},
		{"zero window increment", [][]byte{hello, fr(FrameOpen, 0, 1, nil), fr(FrameWindow, 0, 1, u32(0))}, ErrBadValue},
		{"data on a stream never opened", [][]byte{hello, fr(FrameData, 0, 5, []byte("x"))}, ErrProtocol},
		{"fin on a stream never opened", [][]byte{hello, fr(FrameFin, 0, 7, nil)}, ErrProtocol},
		{"data after fin", [][]byte{hello, fr(FrameOpen, 0, 1, nil), fr(FrameFin, 0, 1, nil), fr(FrameData, 0, 1, []byte("x"))}, ErrProtocol},
		{"window overrun", [][]byte{hello, fr(FrameOpen, 0, 1, nil),
			fr(FrameData, 0, 1, make([]byte, maxFrame)), fr(FrameData, 0, 1, make([]byte, maxFrame)),
			fr(FrameData, 0, 1, []byte("x"))}, ErrFlowControl},
		{"window overflow", [][]byte{hello, fr(FrameOpen, 0, 1, nil), fr(FrameWindow, 0, 1, u32(MaxWindow))}, ErrFlowControl},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, peer, ended := serveRaw(t, false, Config{Window: window, MaxFrameSize: maxFrame})
			peer.send(tt.frames...)
			err := waitEnd(t, ended)
			if !errors.Is(err, tt.want) {
				t.Fatalf("session ended with %v, want %v", err, tt.want)
			}
			// The peer is told why before the connection closes.
			ga := peer.waitFrame(FrameGoAway, 0)
			if ga.Code() != codeOf(tt.want) || !strings.Contains(ga.Reason(), tt.want.Error()) {
				t.Fatalf("GOAWAY %s %q, want code %s with the reason", ga.Code(), ga.Reason(), codeOf(tt.want))
			}
			if r := Reason(err); r == "" || r == "io" || r == "closed" {
				t.Fatalf("Reason(%v) = %q", err, r)
			}
			if _, err := peer.next(); !errors.Is(err, io.EOF) {
				t.Fatalf("after GOAWAY: %v, want the connection closed", err)
			}
		})
	}
}

// TestLateFramesIgnored checks frames for streams that were opened and are
// done are ignored, not treated as violations.
func TestLateFramesIgnored(t *testing.T) {
	sess, peer, _ := serveRaw(t, false, Config{})
	peer.send(helloBytes(64<<10, 16<<10, 100), fr(FrameOpen, 0, 1, nil), fr(FrameReset, 0, 1, u32(uint32(CodeCancel))))
	st, err := sess.Accept(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Read(make([]byte, 1)); !errors.Is(err, ErrStreamReset) {
		t.Fatalf("Read of a reset stream = %v", err)
	}
	// Stream 1 is done; late DATA, FIN, WINDOW and RESET for it pass.
	peer.send(fr(FrameData, 0, 1, []byte("late")), fr(FrameWindow, 0, 1, u32(10)), fr(FrameFin, 0, 1, nil),
		fr(FrameReset, 0, 1, u32(0)), fr(FramePing, 0, 0, u32x2(7)))
	if f := peer.waitFrame(FramePing, 0); f.Flags != FlagAck || f.PingData() != 7 {
		t.Fatalf("PING answer %+v", f)
	}
	if sess.Err() != nil {
		t.Fatalf("session ended: %v", sess.Err())
	}
}

func u32x2(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

// TestPeerStopsReading: a peer that grants a huge window and then reads
// nothing ends its session with ErrWriteTimeout; the blocked Write returns.
func TestPeerStopsReading(t *testing.T) {
	sess, peer, ended := serveRawSmall(t, false, Config{WriteTimeout: 300 * time.Millisecond}, 4096)
	peer.send(helloBytes(MaxWindow, MaxFrameSizeLimit, 100), fr(FrameOpen, 0, 1, nil))
	st, err := sess.Accept(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	big := make([]byte, 1<<20)
	for err == nil {
		_, err = st.Write(big)
	}
	if !errors.Is(err, ErrWriteTimeout) {
		t.Fatalf("Write = %v, want ErrWriteTimeout", err)
	}
	if err := waitEnd(t, ended); !errors.Is(err, ErrWriteTimeout) {
		t.Fatalf("session ended with %v", err)
	}
}

// TestControlFlood: a peer that sends PINGs and never reads the answers
// ends its session with ErrControlFlood.
func TestControlFlood(t *testing.T) {
	_, peer, ended := serveRawSmall(t, false, Config{}, 4096)
	peer.send(helloBytes(64<<10, 16<<10, 100))
	pings := make([]byte, 0, 1024*17)
	for i := range 1024 {
		pings = append(pings, fr(FramePing, 0, 0, u32x2(uint64(i)))...)
	}
	go func() {
		for {
			if _, err := peer.c.Write(pings); err != nil {
				return
			}
		}
	}()
	if err := waitEnd(t, ended); !errors.Is(err, ErrControlFlood) {
		t.Fatalf("session ended with %v", err)
	}
	peer.c.Close()
}

func TestGoAwayFromPeerWithError(t *testing.T) {
	sess, peer, ended := serveRaw(t, true, Config{})
	peer.send(helloBytes(64<<10, 16<<10, 100), fr(FrameGoAway, 0, 0, append(append(u32(0), u32(uint32(CodeInternal))...), "boom"...)))
	err := waitEnd(t, ended)
	var ga *GoAwayError
	if !errors.As(err, &ga) || ga.Code != CodeInternal || ga.Reason != "boom" || !errors.Is(err, ErrGoAway) || Reason(err) != "goaway" {
		t.Fatalf("session ended with %v", err)
	}
	if _, err := sess.Open(context.Background()); !errors.As(err, &ga) {
		t.Fatalf("Open after the end = %v", err)
	}
}

// TestGoAwayRefusesUnprocessed: the peer's GOAWAY names the last stream it
// processed; this side's later streams are refused, earlier ones go on.
func TestGoAwayRefusesUnprocessed(t *testing.T) {
	sess, peer, _ := serveRaw(t, true, Config{})
	peer.send(helloBytes(64<<10, 16<<10, 100))
	s1, err := sess.Open(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	s3, err := sess.Open(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	peer.waitFrame(FrameOpen, 3)
	peer.send(fr(FrameGoAway, 0, 0, append(u32(1), u32(0)...)), fr(FrameData, 0, 1, []byte("still here")))
	buf := make([]byte, 64)
	n, err := s1.Read(buf)
	if err != nil || string(buf[:n]) != "still here" {
		t.Fatalf("stream 1 read %q, %v", buf[:n], err)
	}
	var re *ResetError
	if _, err := s3.Write([]byte("x")); !errors.As(err, &re) || re.Code != CodeRefused {
		t.Fatalf("stream 3 Write = %v, want refused", err)
	}
	if _, err := sess.Open(context.Background()); !errors.Is(err, ErrGoAway) {
		t.Fatalf("Open after GOAWAY = %v", err)
	}
}

// TestGoAwayGraceful: after GoAway no side opens streams, open ones go on,
// and the sessions end once they are done.
func TestGoAwayGraceful(t *testing.T) {
	cs, ss := sessionPair(t, Config{}, Config{})
	a, b := streamPair(t, cs, ss)
	if err := ss.GoAway(); err != nil {
		t.Fatal(err)
	}
	// GOAWAY was queued before this data: once the client reads it, it
	// has seen the GOAWAY.
	b.Write([]byte("after goaway"))
	buf := make([]byte, 64)
	if n, err := a.Read(buf); err != nil || string(buf[:n]) != "after goaway" {
		t.Fatalf("read %q, %v", buf[:n], err)
	}
	for name, s := range map[string]*Session{"client": cs, "server": ss} {
		if _, err := s.Open(context.Background()); !errors.Is(err, ErrGoAway) {
			t.Errorf("%s Open after GOAWAY = %v", name, err)
		}
	}
	a.Write([]byte("reply"))
	a.CloseWrite()
	if got, err := io.ReadAll(b); err != nil || string(got) != "reply" {
		t.Fatalf("server read %q, %v", got, err)
	}
	b.CloseWrite()
	io.ReadAll(a)
	a.Close()
	b.Close()
	for name, s := range map[string]*Session{"client": cs, "server": ss} {
		select {
		case <-s.Done():
		case <-time.After(10 * time.Second):
			t.Fatalf("%s session still open after its last stream", name)
		}
		if r := Reason(s.Err()); r != "closed" && r != "peer_closed" {
			t.Errorf("%s ended with %v", name, s.Err())
		}
	}
}

// TestRefusedAfterGoAway: a stream opened after this side's GOAWAY is
// refused with RESET(refused).
func TestRefusedAfterGoAway(t *testing.T) {
	sess, peer, _ := serveRaw(t, false, Config{})
	peer.send(helloBytes(64<<10, 16<<10, 100), fr(FrameOpen, 0, 1, nil))
	if _, err := sess.Accept(context.Background()); err != nil {
		t.Fatal(err)
	}
	sess.GoAway()
	if ga := peer.waitFrame(FrameGoAway, 0); ga.LastStream() != 1 || ga.Code() != CodeNone {
		t.Fatalf("GOAWAY last %d code %s", ga.LastStream(), ga.Code())
	}
	peer.send(fr(FrameOpen, 0, 3, nil))
	if f := peer.waitFrame(FrameReset, 3); f.Code() != CodeRefused {
		t.Fatalf("RESET code %s", f.Code())
	}
	if st := sess.Stats(); st.StreamsRefused != 1 {
		t.Fatalf("stats %+v", st)
	}
}

// TestStreamLimitRefuses: streams beyond MaxStreams are refused.
func TestStreamLimitRefuses(t *testing.T) {
	sess, peer, _ := serveRaw(t, false, Config{MaxStreams: 2})
	peer.send(helloBytes(64<<10, 16<<10, 100), fr(FrameOpen, 0, 1, nil), fr(FrameOpen, 0, 3, nil), fr(FrameOpen, 0, 5, nil))
	if f := peer.waitFrame(FrameReset, 5); f.Code() != CodeRefused {
		t.Fatalf("RESET code %s", f.Code())
	}
	// Finishing one frees its slot.
	st, _ := sess.Accept(context.Background())
	st.Close()
	peer.waitFrame(FrameReset, st.ID()) // Close resets: the peer had not sent FIN
	peer.send(fr(FrameOpen, 0, 7, nil))
	for range 2 {
		if _, err := sess.Accept(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if st := sess.Stats(); st.StreamsRefused != 1 || st.ActiveStreams != 2 {
		t.Fatalf("stats %+v", st)
	}
}

func TestSessionCloseFailsStreams(t *testing.T) {
	cs, ss := sessionPair(t, Config{}, Config{})
	a, b := streamPair(t, cs, ss)
	readErr := make(chan error, 1)
	go func() {
		_, err := a.Read(make([]byte, 1))
		readErr <- err
	}()
	cs.Close()
	if err := <-readErr; !errors.Is(err, ErrSessionClosed) {
		t.Fatalf("pending Read = %v", err)
	}
	if _, err := b.Read(make([]byte, 1)); !errors.Is(err, ErrPeerClosed) && !errors.Is(err, ErrGoAway) {
		t.Fatalf("peer Read = %v", err)
	}
	if _, err := cs.Open(context.Background()); !errors.Is(err, ErrSessionClosed) {
		t.Fatalf("Open = %v", err)
	}
	if Reason(cs.Err()) != "closed" {
		t.Fatalf("Err = %v", cs.Err())
	}
}
