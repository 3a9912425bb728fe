package vmux

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"
	"testing/synctest"
	"time"

	"github.com/sluice-proxy/sluice/vstream"
)

// endsWithGoAway checks how a session against a raw peer ended: with an
// error matching want, whose Reason is reason, after sending the peer a
// GOAWAY of code (carrying reason text wantText, when not empty) and then
// closing the connection.
func endsWithGoAway(t *testing.T, peer *rawPeer, ended <-chan error, want error, reason string, code Code, wantText string) {
	t.Helper()
	g := peer.waitFrame(FrameGoAway, 0)
	if g.Code() != code || (wantText != "" && g.Reason() != wantText) {
		t.Errorf("GOAWAY %s %q, want %s %q", g.Code(), g.Reason(), code, wantText)
	}
	if err := waitEnd(t, ended); !errors.Is(err, want) || Reason(err) != reason {
		t.Fatalf("session ended with %v (reason %q), want %v (%q)", err, Reason(err), want, reason)
	}
	if f, err := peer.next(); err != io.EOF {
		t.Fatalf("after GOAWAY: %+v, %v; want EOF", f, err)
	}
}

// TestHandshakeTimeout: a peer that sends no HELLO, or part of one, ends
// its session with ErrHandshakeTimeout, and is told why.
func TestHandshakeTimeout(t *testing.T) {
	hello := helloBytes(64<<10, 16<<10, 100)
	for _, tc := range []struct {
		name string
		sent []byte
	}{
		{"silent", nil},
		{"half a header", hello[:4]},
		{"header without payload", hello[:HeaderLen]},
		{"payload cut short", hello[:len(hello)-1]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// The other limits are far off: only the handshake's can end it.
			_, peer, ended := serveRaw(t, false, Config{HandshakeTimeout: 50 * time.Millisecond, FrameTimeout: time.Hour, IdleTimeout: time.Hour})
			if len(tc.sent) > 0 {
				peer.send(tc.sent)
			}
			endsWithGoAway(t, peer, ended, ErrHandshakeTimeout, "handshake_timeout", CodeTimeout, "")
		})
	}
}

// TestFrameTimeout: a peer that stops inside a frame after the handshake
// ends its session with ErrFrameTimeout, not later at the idle limit.
func TestFrameTimeout(t *testing.T) {
	hello := helloBytes(64<<10, 16<<10, 100)
	ping := fr(FramePing, 0, 0, u32x2(1))
	for _, tc := range []struct {
		name string
		sent [][]byte
	}{
		{"half a header", [][]byte{hello, ping[:4]}},
		{"header without payload", [][]byte{hello, ping[:HeaderLen]}},
		{"control payload cut short", [][]byte{hello, ping[:len(ping)-1]}},
		{"DATA cut short", [][]byte{hello, fr(FrameOpen, 0, 1, nil), fr(FrameData, 0, 1, make([]byte, 100))[:HeaderLen+10]}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, peer, ended := serveRaw(t, false, Config{FrameTimeout: 50 * time.Millisecond, IdleTimeout: -1})
			peer.send(tc.sent...)
			endsWithGoAway(t, peer, ended, ErrFrameTimeout, "frame_timeout", CodeTimeout, "")
		})
	}
}

// TestIdleTimeout: a session with no stream whose peer falls silent after
// its HELLO is ended by this side with a graceful GOAWAY saying "idle";
// with FrameTimeout off, so is one whose peer stopped inside a frame.
func TestIdleTimeout(t *testing.T) {
	hello := helloBytes(64<<10, 16<<10, 100)
	for _, tc := range []struct {
		name string
		cfg  Config
		sent [][]byte
	}{
		{"HELLO then silence", Config{IdleTimeout: 50 * time.Millisecond}, [][]byte{hello}},
		{"PING then silence", Config{IdleTimeout: 50 * time.Millisecond}, [][]byte{hello, fr(FramePing, 0, 0, u32x2(1))}},
		{"half a frame, frame timeout off", Config{IdleTimeout: 50 * time.Millisecond, FrameTimeout: -1}, [][]byte{hello, fr(FramePing, 0, 0, u32x2(1))[:5]}},
		{"client side", Config{IdleTimeout: 50 * time.Millisecond}, [][]byte{hello}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, peer, ended := serveRaw(t, tc.name == "client side", tc.cfg)
			peer.send(tc.sent...)
			endsWithGoAway(t, peer, ended, ErrIdleTimeout, "idle", CodeNone, "idle")
		})
	}
}

// TestIdleTimeoutSpares runs sessions over a vstream.Pipe in a synctest
// bubble, where time is virtual: IdleTimeout is one minute on the server
// (off on the client), and ten minutes pass while the session is in use —
// a stream open but silent, or no stream but PINGs every 30s. The session
// stays, and ends "idle" only once a full minute has passed unused.
func TestIdleTimeoutSpares(t *testing.T) {
	const idle = time.Minute
	for _, tc := range []struct {
		name string
		// use keeps the session busy for ten minutes and returns a
		// function that stops using it.
		use func(t *testing.T, cs, ss *Session) (stop func())
	}{
		{"silent open stream", func(t *testing.T, cs, ss *Session) func() {
			a, b := streamPair(t, cs, ss)
			roundTripStream(t, a, b, "before")
			time.Sleep(10 * idle)
			synctest.Wait()
			roundTripStream(t, a, b, "after") // the session and the stream still work
			return func() {
				a.Close()
				b.Close()
			}
		}},
		{"PINGs without streams", func(t *testing.T, cs, ss *Session) func() {
			for range 20 {
				time.Sleep(30 * time.Second)
				if _, err := cs.Ping(context.Background()); err != nil {
					t.Fatalf("Ping: %v", err)
				}
			}
			return func() {}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				c, s := vstream.Pipe()
				ended := make(chan error, 1)
				cs := Client(c, Config{IdleTimeout: -1})
				ss := Server(s, Config{IdleTimeout: idle, OnClose: func(_ *Session, err error) { ended <- err }})
				defer cs.Close()
				defer ss.Close()

				stop := tc.use(t, cs, ss)
				synctest.Wait()
				if err := ss.Err(); err != nil {
					t.Fatalf("server session ended while in use: %v", err)
				}
				stop()
				synctest.Wait()
				time.Sleep(idle - time.Second)
				synctest.Wait()
				if err := ss.Err(); err != nil {
					t.Fatalf("server session ended %v after its last use: %v", idle-time.Second, err)
				}
				time.Sleep(time.Second + DefaultFrameTimeout) // the limit plus at most one check-up
				synctest.Wait()
				select {
				case err := <-ended:
					if !errors.Is(err, ErrIdleTimeout) || Reason(err) != "idle" {
						t.Fatalf("server session ended with %v, want idle", err)
					}
				default:
					t.Fatal("server session still open a check-up after the idle limit")
				}
				// The client, told GOAWAY with no stream left, ends too.
				<-cs.Done()
			})
		})
	}
}

// roundTripStream sends msg from a to b and back.
func roundTripStream(t *testing.T, a, b *Stream, msg string) {
	t.Helper()
	for _, dir := range [][2]*Stream{{a, b}, {b, a}} {
		if _, err := dir[0].Write([]byte(msg)); err != nil {
			t.Fatalf("Write: %v", err)
		}
		got := make([]byte, len(msg))
		if _, err := io.ReadFull(dir[1], got); err != nil {
			t.Fatalf("Read: %v", err)
		}
		if !bytes.Equal(got, []byte(msg)) {
			t.Fatalf("got %q, want %q", got, msg)
		}
	}
}
