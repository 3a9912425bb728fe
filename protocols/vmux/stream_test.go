package vmux

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/nettest"

	"github.com/sluice-proxy/sluice/vstream"
)

func TestStreamConn(t *testing.T) {
	for _, cfg := range []Config{{}, {Window: 4096, MaxFrameSize: 1024}} {
		t.Run(fmt.Sprintf("window%d", cfg.Window), func(t *testing.T) {
			nettest.TestConn(t, func() (net.Conn, net.Conn, func(), error) {
				c, s := tcpPair(t)
				cs, ss := Client(c, cfg), Server(s, cfg)
				a, b := streamPair(t, cs, ss)
				return a, b, func() {
					a.Close()
					b.Close()
					cs.Close()
					ss.Close()
				}, nil
			})
		})
	}
}

// echo serves every stream s accepts by echoing it to EOF, until the
// session ends.
func echo(s *Session) {
	for {
		st, err := s.Accept(context.Background())
		if err != nil {
			return
		}
		go func() {
			io.Copy(st, st)
			st.CloseWrite()
			// Wait for the peer to finish too, then close.
			io.Copy(io.Discard, st)
			st.Close()
		}()
	}
}

func TestManyConcurrentStreams(t *testing.T) {
	cs, ss := sessionPair(t, Config{}, Config{Window: 64 << 10, MaxFrameSize: 16 << 10})
	go echo(ss)
	const streams = 64
	var wg sync.WaitGroup
	for i := range streams {
		wg.Add(1)
		go func() {
			defer wg.Done()
			data := payload(uint64(i), 1+i*5000)
			st, err := cs.Open(context.Background())
			if err != nil {
				t.Error(err)
				return
			}
			defer st.Close()
			werr := make(chan error, 1)
			go func() {
				_, err := st.Write(data)
				if err == nil {
					err = st.CloseWrite()
				}
				werr <- err
			}()
			got, err := io.ReadAll(st)
			if err != nil {
				t.Errorf("stream %d: %v", st.ID(), err)
				return
			}
			if err := <-werr; err != nil {
				t.Errorf("stream %d write: %v", st.ID(), err)
			}
			if !bytes.Equal(got, data) {
				t.Errorf("stream %d: echoed %d bytes, want %d exact", st.ID(), len(got), len(data))
			}
		}()
	}
	wg.Wait()
	st := cs.Stats()
	if st.StreamsOpened != streams || st.ResetsReceived != 0 {
		t.Errorf("client stats %+v", st)
	}
}

func TestHalfClose(t *testing.T) {
	cs, ss := sessionPair(t, Config{}, Config{})
	a, b := streamPair(t, cs, ss)
	a.Write([]byte("request"))
	if err := a.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Write([]byte("x")); !errors.Is(err, io.ErrClosedPipe) {
		t.Fatalf("Write after CloseWrite = %v", err)
	}
	got, err := io.ReadAll(b)
	if err != nil || string(got) != "request" {
		t.Fatalf("server read %q, %v", got, err)
	}
	// The other direction is still open, both ways round.
	b.Write([]byte("response"))
	b.CloseWrite()
	got, err = io.ReadAll(a)
	if err != nil || string(got) != "response" {
		t.Fatalf("client read %q, %v", got, err)
	}
	// Done both ways and drained: both sessions forget the stream.
	waitFor(t, func() bool { return cs.Stats().ActiveStreams == 0 && ss.Stats().ActiveStreams == 0 })
	a.Close()
	b.Close()
	if cs.Stats().ResetsSent+ss.Stats().ResetsSent != 0 {
		t.Errorf("a clean close sent RESETs: %+v %+v", cs.Stats(), ss.Stats())
	}
}

// waitFor waits until cond holds, polling on the session's own progress;
// it fails the test after 10 s.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestReset(t *testing.T) {
	cs, ss := sessionPair(t, Config{}, Config{})
	t.Run("explicit", func(t *testing.T) {
		a, b := streamPair(t, cs, ss)
		b.Write([]byte("unread"))
		if err := a.Reset(42); err != nil {
			t.Fatal(err)
		}
		var re *ResetError
		if _, err := a.Read(make([]byte, 1)); !errors.As(err, &re) || re.Code != 42 || re.Remote {
			t.Fatalf("local Read after Reset = %v", err)
		}
		_, err := io.ReadAll(b)
		if !errors.As(err, &re) || re.Code != 42 || !re.Remote || !errors.Is(err, ErrStreamReset) {
			t.Fatalf("peer Read = %v, want a remote reset with code 42", err)
		}
		// The peer's writes fail too, once the RESET is in.
		if _, err := b.Write([]byte("x")); !errors.Is(err, ErrStreamReset) {
			t.Fatalf("peer Write = %v", err)
		}
		b.Close()
	})
	t.Run("close with peer still sending", func(t *testing.T) {
		a, b := streamPair(t, cs, ss)
		a.Write([]byte("bye"))
		a.Close() // b has not sent FIN: FIN, then RESET(cancel)
		// b still reads what a sent, to EOF: FIN came first.
		got, err := io.ReadAll(b)
		if err != nil || string(got) != "bye" {
			t.Fatalf("peer read %q, %v", got, err)
		}
		// b's writes fail instead of waiting on a window nobody grants.
		_, err = b.Write(make([]byte, 1<<20))
		var re *ResetError
		if !errors.As(err, &re) || re.Code != CodeCancel {
			t.Fatalf("peer Write = %v, want reset(cancel)", err)
		}
		b.Close()
	})
	waitFor(t, func() bool { return cs.Stats().ActiveStreams == 0 && ss.Stats().ActiveStreams == 0 })
}

func TestStreamCloseErrors(t *testing.T) {
	cs, ss := sessionPair(t, Config{}, Config{})
	a, b := streamPair(t, cs, ss)
	defer b.Close()
	a.Close()
	for name, op := range map[string]func() error{
		"read":       func() error { _, err := a.Read(make([]byte, 1)); return err },
		"write":      func() error { _, err := a.Write([]byte("x")); return err },
		"closewrite": a.CloseWrite,
		"close":      a.Close,
	} {
		if err := op(); !errors.Is(err, net.ErrClosed) {
			t.Errorf("%s after Close = %v, want net.ErrClosed", name, err)
		}
	}
}

// writeResult is what a Write returned.
type writeResult struct {
	n   int
	err error
}

// TestSlowReader checks a peer that does not read makes the writer wait
// after one window, and that the receiver buffers no more than that.
func TestSlowReader(t *testing.T) {
	const window = 64 << 10
	cs, ss := sessionPair(t, Config{}, Config{Window: window})
	a, b := streamPair(t, cs, ss)
	data := payload(1, 4*window)
	wrote := make(chan writeResult, 1)
	go func() {
		n, err := a.Write(data)
		if err == nil {
			err = a.CloseWrite()
		}
		wrote <- writeResult{n, err}
	}()
	// The receiver fills up to the window, and the writer waits there: a
	// byte more would be a flow control violation, which ends the session.
	waitFor(t, func() bool { return bufferedBytes(ss) == window })
	select {
	case r := <-wrote:
		t.Fatalf("Write returned %d, %v while the reader had read nothing", r.n, r.err)
	default:
	}
	if got := cs.Stats().BytesSent; got != window {
		t.Fatalf("writer sent %d bytes to a stalled reader, window %d", got, window)
	}
	// Reading resumes the writer.
	got, err := io.ReadAll(b)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read %d bytes (%v), want %d exact", len(got), err, len(data))
	}
	if r := <-wrote; r.n != len(data) || r.err != nil {
		t.Fatalf("Write = %d, %v", r.n, r.err)
	}
}

// TestManyStalledStreams checks that a peer filling the windows of as many
// streams as it may open, without them being read, makes the server buffer
// at most MaxStreams × Window, and that it cannot open more.
func TestManyStalledStreams(t *testing.T) {
	const window, maxStreams = 4 << 10, 16
	cs, ss := sessionPair(t, Config{}, Config{Window: window, MaxStreams: maxStreams})
	var opened []*Stream
	for range maxStreams {
		st, err := cs.Open(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		opened = append(opened, st)
	}
	if _, err := cs.Open(context.Background()); !errors.Is(err, ErrTooManyStreams) {
		t.Fatalf("Open beyond the peer's limit = %v", err)
	}
	wrote := make(chan writeResult, maxStreams)
	for _, st := range opened {
		go func() {
			n, err := st.Write(make([]byte, 10*window))
			wrote <- writeResult{n, err}
		}()
	}
	waitFor(t, func() bool { return bufferedBytes(ss) == maxStreams*window })
	if st := ss.Stats(); st.ActiveStreams != maxStreams || st.BytesReceived != maxStreams*window {
		t.Fatalf("server stats %+v", st)
	}
	// Every writer is stuck at one window; ending the session frees them.
	cs.Close()
	for range maxStreams {
		if r := <-wrote; r.n != window || !errors.Is(r.err, ErrSessionClosed) {
			t.Fatalf("Write = %d, %v; want %d and the session's end", r.n, r.err, window)
		}
	}
}

// TestFastReader moves many windows' worth through one stream: window
// updates keep it going, and coalesce (a few per window, not one per read).
func TestFastReader(t *testing.T) {
	const window = 64 << 10
	cs, ss := sessionPair(t, Config{}, Config{Window: window})
	a, b := streamPair(t, cs, ss)
	data := payload(2, 8<<20)
	go func() {
		a.Write(data)
		a.CloseWrite()
	}()
	var got bytes.Buffer
	buf := make([]byte, 1000) // small reads: updates must still coalesce
	if _, err := io.CopyBuffer(&got, struct{ io.Reader }{b}, buf); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Bytes(), data) {
		t.Fatalf("read %d bytes, want %d exact", got.Len(), len(data))
	}
	// One update per quarter window read, at most.
	if max := uint64(len(data)/(window/4)) + 4; cs.Stats().FramesReceived > max {
		t.Errorf("writer received %d frames for %d bytes through a %d window; want at most %d",
			cs.Stats().FramesReceived, len(data), window, max)
	}
}

func TestDigestAndAddrs(t *testing.T) {
	c, s := tcpPair(t)
	d := vstream.NewDigest("edge", s)
	vstream.SetExtension(d, "tenant-7")
	cs, ss := Client(c, Config{}), Server(vstream.NewConn(s.(*net.TCPConn), d), Config{})
	defer cs.Close()
	defer ss.Close()
	a, b := streamPair(t, cs, ss)
	if b.RemoteAddr().String() != c.LocalAddr().String() || a.RemoteAddr().String() != s.LocalAddr().String() {
		t.Fatalf("addrs: server stream %v, client stream %v", b.RemoteAddr(), a.RemoteAddr())
	}
	bd := b.Digest()
	if bd == d || bd.Listener != "edge" || bd.RemoteAddr.String() != c.LocalAddr().String() {
		t.Fatalf("stream digest %+v", bd)
	}
	if v, _ := vstream.Extension[string](bd); v != "tenant-7" {
		t.Fatalf("extension %q", v)
	}
	if !vstream.AddrPort(b.RemoteAddr()).IsValid() {
		t.Fatal("a stream's RemoteAddr is not an IP address")
	}
}

func TestPing(t *testing.T) {
	cs, ss := sessionPair(t, Config{}, Config{})
	for _, s := range []*Session{cs, ss} {
		if rtt, err := s.Ping(context.Background()); err != nil || rtt <= 0 {
			t.Fatalf("Ping = %v, %v", rtt, err)
		}
	}
}

// TestSessionAsDialer uses a client session as an upstream dialer.
func TestSessionAsDialer(t *testing.T) {
	cs, ss := sessionPair(t, Config{}, Config{})
	go echo(ss)
	var dial func(ctx context.Context, addr string) (net.Conn, error) = vstream.DialFunc(cs)
	c, err := dial(context.Background(), "ignored")
	if err != nil {
		t.Fatal(err)
	}
	c.Write([]byte("through vmux"))
	c.(vstream.Stream).CloseWrite()
	got, err := io.ReadAll(c)
	if err != nil || string(got) != "through vmux" {
		t.Fatalf("echo %q, %v", got, err)
	}
	c.Close()
}

// TestMixedWriteSizes interleaves staged small writes and direct large ones
// on one stream, with a small window, and checks the bytes arrive in order.
func TestMixedWriteSizes(t *testing.T) {
	cs, ss := sessionPair(t, Config{}, Config{Window: 16 << 10, MaxFrameSize: 4096})
	a, b := streamPair(t, cs, ss)
	data := payload(3, 4<<20)
	sizes := payload(4, 4096)
	go func() {
		for i, rest := 0, data; len(rest) > 0; i++ {
			k := min(len(rest), 1+int(sizes[i%len(sizes)])*int(sizes[(i+1)%len(sizes)])) // 1 B to 64 KiB
			if _, err := a.Write(rest[:k]); err != nil {
				t.Error(err)
				return
			}
			rest = rest[k:]
		}
		a.Close() // graceful for what was written: staged bytes go before FIN
	}()
	got, err := io.ReadAll(b)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read %d bytes (%v), want %d in order", len(got), err, len(data))
	}
	b.Close()
}
