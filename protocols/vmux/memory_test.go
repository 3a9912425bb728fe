package vmux

import (
	"context"
	"io"
	"testing"
)

// fillWindows has a raw peer open streams and send on each as much as the
// session's HELLO allows, reading nothing back but the session's frames;
// it returns once the session has processed all of it (a PING sent after
// the data is answered).
func fillWindows(t *testing.T, peer *rawPeer, streams int) Hello {
	t.Helper()
	peer.send(helloBytes(64<<10, 16<<10, 100))
	h := peer.waitFrame(FrameHello, 0).Hello()
	chunk := make([]byte, min(h.MaxFrameSize, h.Window))
	var b []byte
	for i := range streams {
		id := uint32(2*i + 1)
		b = append(b[:0], fr(FrameOpen, 0, id, nil)...)
		for rem := int(h.Window); rem > 0; rem -= len(chunk) {
			b = append(b, fr(FrameData, 0, id, chunk[:min(rem, len(chunk))])...)
		}
		peer.send(b)
	}
	peer.send(AppendFrame(nil, PingFrame(7, false)))
	for {
		if f := peer.waitFrame(FramePing, 0); f.Flags&FlagAck != 0 && f.PingData() == 7 {
			return h
		}
	}
}

// TestDefaultsBoundSessionMemory: with the zero Config, a peer that opens
// twice as many streams as it may and fills every window it is given,
// while nothing reads, makes the session hold at most 8 MiB (the old
// defaults, 1024 streams × 256 KiB, let it hold 256 MiB). Stats.Buffered
// and BufferedBytes count exactly what the streams hold, and fall back as
// streams are closed.
func TestDefaultsBoundSessionMemory(t *testing.T) {
	const bound, streams = 8 << 20, 256
	before := BufferedBytes()
	sess, peer, _ := serveRaw(t, false, Config{})
	h := fillWindows(t, peer, streams)
	st := sess.Stats()
	if st.Buffered > bound {
		t.Fatalf("session buffers %d bytes (%d streams × %d-byte windows), want at most %d",
			st.Buffered, st.ActiveStreams, h.Window, bound)
	}
	if want := int64(DefaultMaxStreams * DefaultWindow); st.Buffered != want || st.ActiveStreams != DefaultMaxStreams {
		t.Fatalf("stats %+v: want %d streams holding one full window each (%d bytes)", st, DefaultMaxStreams, want)
	}
	if got := bufferedBytes(sess); got != DefaultMaxStreams*DefaultWindow {
		t.Fatalf("streams hold %d unread bytes, Stats.Buffered says %d", got, st.Buffered)
	}
	if got := BufferedBytes() - before; got != st.Buffered {
		t.Fatalf("BufferedBytes grew by %d, the session holds %d", got, st.Buffered)
	}
	if want := streams - min(streams, DefaultMaxStreams); int(st.StreamsRefused) != want {
		t.Fatalf("refused %d streams, want %d", st.StreamsRefused, want)
	}
	for range DefaultMaxStreams {
		s, err := sess.Accept(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		s.Close()
	}
	if st := sess.Stats(); st.Buffered != 0 {
		t.Fatalf("after closing every stream the session still holds %d bytes", st.Buffered)
	}
	if got := BufferedBytes() - before; got != 0 {
		t.Fatalf("after closing every stream BufferedBytes is %d above where it started", got)
	}
}

// TestConfiguredBoundSessionMemory: MaxStreams and Window set the bound a
// peer filling windows reaches, and no more.
func TestConfiguredBoundSessionMemory(t *testing.T) {
	const window, maxStreams = 4 << 10, 8
	sess, peer, _ := serveRaw(t, false, Config{Window: window, MaxStreams: maxStreams})
	fillWindows(t, peer, 3*maxStreams)
	if st := sess.Stats(); st.Buffered != window*maxStreams || st.ActiveStreams != maxStreams {
		t.Fatalf("stats %+v, want %d streams holding %d bytes", st, maxStreams, window*maxStreams)
	}
}

// TestBufferFreedAtEOF: reading a stream to EOF (data, then the peer's FIN)
// frees its receive buffer, and a reset by the peer frees unread data.
func TestBufferFreedAtEOF(t *testing.T) {
	cs, ss := sessionPair(t, Config{}, Config{})
	a, b := streamPair(t, cs, ss)
	if _, err := a.Write(payload(3, 40<<10)); err != nil {
		t.Fatal(err)
	}
	a.CloseWrite()
	if got, err := io.ReadAll(b); err != nil || len(got) != 40<<10 {
		t.Fatalf("read %d bytes, %v", len(got), err)
	}
	if st := ss.Stats(); st.Buffered != 0 {
		t.Fatalf("after EOF the session holds %d bytes", st.Buffered)
	}

	c, d := streamPair(t, cs, ss)
	if _, err := c.Write(payload(4, 20<<10)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return bufferedBytes(ss) == 20<<10 })
	if st := ss.Stats(); st.Buffered < 20<<10 {
		t.Fatalf("session holds %d bytes with 20 KiB unread", st.Buffered)
	}
	c.Reset(CodeCancel)
	waitFor(t, func() bool { return ss.Stats().Buffered == 0 }) // the RESET has arrived and freed the data
	if _, err := d.Read(make([]byte, 1)); err == nil {
		t.Fatal("Read after the peer's reset succeeded")
	}
}
