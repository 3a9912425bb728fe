package vmux

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sluice-proxy/sluice/vstream"
)

// startServe runs Serve on a loopback listener feeding vl and returns the
// address and Serve's result channel.
func startServe(t *testing.T, ctx context.Context, vl *vstream.Listener, cfg Config) (string, <-chan error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, ln, vl, cfg) }()
	return ln.Addr().String(), done
}

// serveEcho echoes every stream accepted on vl until vl is closed.
func serveEcho(vl *vstream.Listener) {
	for {
		c, err := vl.Accept()
		if err != nil {
			return
		}
		go func() {
			io.Copy(c, c)
			c.(vstream.Stream).CloseWrite()
			io.Copy(io.Discard, c)
			c.Close()
		}()
	}
}

func dialSession(t *testing.T, addr string, cfg Config) *Session {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	s := Client(c, cfg)
	t.Cleanup(func() { s.Close() })
	return s
}

// roundTrip sends msg on a new stream of s and returns the echo.
func roundTrip(s *Session, msg []byte) ([]byte, error) {
	st, err := s.Open(context.Background())
	if err != nil {
		return nil, err
	}
	defer st.Close()
	errc := make(chan error, 1)
	go func() {
		_, err := st.Write(msg)
		if err == nil {
			err = st.CloseWrite()
		}
		errc <- err
	}()
	got, err := io.ReadAll(st)
	if werr := <-errc; err == nil {
		err = werr
	}
	return got, err
}

func TestServe(t *testing.T) {
	vl := vstream.NewListener(vstream.Addr{Net: "vmux", Name: "test"}, 4)
	go serveEcho(vl)
	var mu sync.Mutex
	var ends []error
	addr, done := startServe(t, context.Background(), vl, Config{OnClose: func(_ *Session, err error) {
		mu.Lock()
		ends = append(ends, err)
		mu.Unlock()
	}})
	var wg sync.WaitGroup
	var clients []*Session
	for c := range 3 {
		s := dialSession(t, addr, Config{})
		clients = append(clients, s)
		for i := range 10 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				msg := payload(uint64(c*100+i), 1000*(i+1))
				got, err := roundTrip(s, msg)
				if err != nil || !bytes.Equal(got, msg) {
					t.Errorf("client %d stream %d: %d bytes back (%v), want %d exact", c, i, len(got), err, len(msg))
				}
			}()
		}
	}
	wg.Wait()
	// Closing the listener stops Serve: GOAWAY to every session, which
	// end as their streams are done (all are).
	vl.Close()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Serve = %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return after the listener closed")
	}
	for _, s := range clients {
		<-s.Done()
	}
	mu.Lock()
	defer mu.Unlock()
	if len(ends) != 3 {
		t.Fatalf("OnClose called %d times, want 3", len(ends))
	}
}

// TestServeCancel: when ctx ends Serve closes every session at once, even
// with streams open.
func TestServeCancel(t *testing.T) {
	vl := vstream.NewListener(nil, 4)
	defer vl.Close()
	ctx, cancel := context.WithCancel(context.Background())
	addr, done := startServe(t, ctx, vl, Config{})
	s := dialSession(t, addr, Config{})
	st, err := s.Open(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	server, err := vl.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Serve = %v", err)
	}
	if _, err := st.Read(make([]byte, 1)); err == nil {
		t.Fatal("stream still readable after Serve's context ended")
	}
	if _, err := server.Write([]byte("x")); !errors.Is(err, ErrSessionClosed) {
		t.Fatalf("server side Write = %v", err)
	}
}

// TestServeBadPeerIsolated: a peer sending garbage loses its own session;
// another session on the same Serve goes on.
func TestServeBadPeerIsolated(t *testing.T) {
	vl := vstream.NewListener(nil, 4)
	go serveEcho(vl)
	ended := make(chan error, 4)
	ctx, cancel := context.WithCancel(context.Background())
	addr, done := startServe(t, ctx, vl, Config{OnClose: func(_ *Session, err error) { ended <- err }})
	defer func() {
		cancel()
		<-done
		vl.Close()
	}()
	good := dialSession(t, addr, Config{})
	if got, err := roundTrip(good, []byte("before")); err != nil || string(got) != "before" {
		t.Fatalf("good session: %q, %v", got, err)
	}
	bad, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer bad.Close()
	bad.Write(append(helloBytes(64<<10, 16<<10, 10), fr(FrameOpen, 0, 1, nil)...))
	bad.Write(fr(FrameData, 0, 1, make([]byte, DefaultWindow+1))) // beyond max frame and window
	if err := <-ended; !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("bad session ended with %v", err)
	}
	for i := range 5 {
		msg := fmt.Appendf(nil, "after %d", i)
		if got, err := roundTrip(good, msg); err != nil || !bytes.Equal(got, msg) {
			t.Fatalf("good session after the bad one: %q, %v", got, err)
		}
	}
}

// TestServeBackpressure: with nobody accepting on the listener, streams
// wait in their session instead of piling up; they are delivered in order
// once accepting starts.
func TestServeBackpressure(t *testing.T) {
	vl := vstream.NewListener(nil, 0)
	ctx, cancel := context.WithCancel(context.Background())
	addr, done := startServe(t, ctx, vl, Config{})
	defer func() {
		cancel()
		<-done
		vl.Close()
	}()
	s := dialSession(t, addr, Config{})
	var ids []uint32
	for range 5 {
		st, err := s.Open(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		st.Write([]byte{byte(st.ID())})
		ids = append(ids, st.ID())
	}
	for _, id := range ids {
		c, err := vl.Accept()
		if err != nil {
			t.Fatal(err)
		}
		b := make([]byte, 1)
		if _, err := io.ReadFull(c, b); err != nil || uint32(b[0]) != id {
			t.Fatalf("accepted stream says %d (%v), want %d", b[0], err, id)
		}
		c.Close()
	}
}

// flakyListener fails its first Accepts with EMFILE, then accepts from ln.
type flakyListener struct {
	net.Listener
	fails int
}

func (l *flakyListener) Accept() (net.Conn, error) {
	if l.fails > 0 {
		l.fails--
		return nil, &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", syscall.EMFILE)}
	}
	return l.Listener.Accept()
}

// TestServeRidesOutEMFILE: running out of descriptors pauses accepting; it
// does not end Serve.
func TestServeRidesOutEMFILE(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	vl := vstream.NewListener(nil, 4)
	go serveEcho(vl)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, &flakyListener{Listener: ln, fails: 3}, vl, Config{}) }()
	s := dialSession(t, ln.Addr().String(), Config{})
	if got, err := roundTrip(s, []byte("hi")); err != nil || string(got) != "hi" {
		t.Fatalf("after EMFILE: %q, %v", got, err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Serve = %v", err)
	}
	vl.Close()
}

// TestServeRefusesQueuedOnListenerClose: when the vstream.Listener closes
// while streams wait in a session for delivery, Serve refuses them (their
// buffers freed) instead of waiting for streams nobody will take, so the
// session ends once its delivered streams are done and Serve returns.
func TestServeRefusesQueuedOnListenerClose(t *testing.T) {
	before := BufferedBytes()
	vl := vstream.NewListener(vstream.Addr{Net: "vmux", Name: "t"}, 1)
	addr, done := startServe(t, context.Background(), vl, Config{})
	cs := dialSession(t, addr, Config{})
	var streams []*Stream
	for range 4 {
		st, err := cs.Open(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.Write([]byte("queued")); err != nil {
			t.Fatal(err)
		}
		streams = append(streams, st)
	}
	// The answer comes after the server has read the OPENs and the data:
	// one stream sits in vl's backlog, the others wait in the session.
	if _, err := cs.Ping(context.Background()); err != nil {
		t.Fatal(err)
	}
	vl.Close()
	for _, st := range streams {
		// The one in the backlog is closed (FIN, then RESET), the
		// others refused. (The deadline is a guard against a hang.)
		st.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := st.Read(make([]byte, 1)); !errors.Is(err, ErrStreamReset) && err != io.EOF {
			t.Fatalf("stream %d: Read = %v, want EOF or a reset", st.ID(), err)
		}
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second): // a guard, not a timing assertion
		t.Fatal("Serve did not return after its listener closed")
	}
	if got := BufferedBytes() - before; got != 0 {
		t.Fatalf("%d bytes still held after Serve returned", got)
	}
}
