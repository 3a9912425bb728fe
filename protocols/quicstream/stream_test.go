package quicstream

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/quic-go/quic-go"
	"golang.org/x/net/nettest"

	"github.com/sluice-proxy/sluice/vstream"
)

func TestStreamConn(t *testing.T) {
	nettest.TestConn(t, func() (net.Conn, net.Conn, func(), error) {
		c, s := connPair(t)
		a, b := streamPair(t, c, s)
		return a, b, func() {
			a.Close()
			b.Close()
			c.CloseWithError(0, "")
			s.CloseWithError(0, "")
		}, nil
	})
}

func TestHalfCloseAndClose(t *testing.T) {
	c, s := connPair(t)
	a, b := streamPair(t, c, s)
	a.Write([]byte("request"))
	if err := a.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(b)
	if err != nil || string(got) != "request" {
		t.Fatalf("server read %q, %v", got, err)
	}
	b.Write([]byte("response"))
	b.CloseWrite()
	got, err = io.ReadAll(a)
	if err != nil || string(got) != "response" {
		t.Fatalf("client read %q, %v", got, err)
	}
	a.Close()
	b.Close()

	// Close while the peer still sends: the peer reads our data to EOF,
	// and its writes fail (STOP_SENDING) instead of stalling.
	a, b = streamPair(t, c, s)
	a.Write([]byte("bye"))
	a.Close()
	got, err = io.ReadAll(b)
	if err != nil || string(got) != "bye" {
		t.Fatalf("peer read %q, %v", got, err)
	}
	var se *quic.StreamError
	for err == nil {
		_, err = b.Write(make([]byte, 64<<10))
	}
	if !errors.As(err, &se) || se.ErrorCode != CodeCancel {
		t.Fatalf("peer Write after our Close = %v, want STOP_SENDING with CodeCancel", err)
	}
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
	b.Close()
}

func TestDigest(t *testing.T) {
	c, s := connPair(t)
	_, b := streamPair(t, c, s)
	d := b.Digest()
	// The client's socket is bound to the unspecified address: compare ports.
	if vstream.AddrPort(d.RemoteAddr).Port() != vstream.AddrPort(c.LocalAddr()).Port() || d.ClientAddr != d.RemoteAddr {
		t.Fatalf("digest addrs %v %v, client at %v", d.RemoteAddr, d.ClientAddr, c.LocalAddr())
	}
	if d.TLS == nil || d.TLS.NegotiatedProtocol != testALPN || !d.TLS.HandshakeComplete {
		t.Fatalf("digest TLS %+v", d.TLS)
	}
	if got := vstream.AddrPort(b.RemoteAddr()); !got.IsValid() || got.Port() == 0 {
		t.Fatalf("RemoteAddr %v is not a UDP address", b.RemoteAddr())
	}
	// An accept loop keeps it (vstream.NewDigest clones a Digester's).
	if nd := vstream.NewDigest("quic", b); nd.TLS != d.TLS || nd.Listener != "quic" {
		t.Fatalf("NewDigest over a QUIC stream: %+v", nd)
	}
}

// TestServeAndDial runs Serve into a vstream.Listener with an echo service
// on it, and reaches it with a Dialer through vstream.DialFunc.
func TestServeAndDial(t *testing.T) {
	stls, ctls := testTLS(t)
	ln := listen(t, stls)
	vl := vstream.NewListener(vstream.Addr{Net: "quic", Name: ln.Addr().String()}, 4)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	served := make(chan error, 1)
	go func() { served <- Serve(ctx, ln, vl) }()
	digests := make(chan *vstream.Digest, 5)
	go func() {
		for {
			c, err := vl.Accept()
			if err != nil {
				return
			}
			digests <- c.(vstream.Digester).Digest()
			go func() {
				io.Copy(c, c)
				c.(vstream.Stream).CloseWrite()
				io.Copy(io.Discard, c)
				c.Close()
			}()
		}
	}()
	conn := dial(t, ln.Addr().String(), ctls)
	dial := vstream.DialFunc(&Dialer{Conn: conn})
	for i := range 5 {
		c, err := dial(ctx, "")
		if err != nil {
			t.Fatal(err)
		}
		msg := bytes.Repeat([]byte{byte('a' + i)}, 100000*(i+1))
		go func() {
			c.Write(msg)
			c.(vstream.Stream).CloseWrite()
		}()
		got, err := io.ReadAll(c)
		if err != nil || !bytes.Equal(got, msg) {
			t.Fatalf("stream %d: %d bytes back (%v), want %d exact", i, len(got), err, len(msg))
		}
		// Serve's streams carry the handshake time with the TLS state;
		// the connection was accepted before any of its streams.
		d := <-digests
		if d.TLS == nil || d.HandshakeTime.IsZero() || d.HandshakeTime.After(d.AcceptTime) {
			t.Fatalf("stream %d: served Digest TLS %v, handshake %v, accepted %v", i, d.TLS != nil, d.HandshakeTime, d.AcceptTime)
		}
		c.Close()
	}
	// Closing the listener stops Serve, which closes its connections.
	vl.Close()
	select {
	case err := <-served:
		if err != nil {
			t.Fatalf("Serve = %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return after the vstream.Listener closed")
	}
	select {
	case <-conn.Context().Done():
	case <-time.After(10 * time.Second):
		t.Fatal("connection still open after Serve returned")
	}
}

// TestServeDrains: closing the vstream.Listener stops new streams, but a
// delivered stream keeps working until it is closed; then its connection
// is closed and Serve returns.
func TestServeDrains(t *testing.T) {
	stls, ctls := testTLS(t)
	ln := listen(t, stls)
	vl := vstream.NewListener(nil, 4)
	served := make(chan error, 1)
	go func() { served <- Serve(context.Background(), ln, vl) }()
	conn := dial(t, ln.Addr().String(), ctls)
	c, err := (&Dialer{Conn: conn}).DialStream(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	c.Write([]byte("ping"))
	s, err := vl.Accept()
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4)
	if _, err := io.ReadFull(s, buf); err != nil {
		t.Fatal(err)
	}
	vl.Close()
	// The delivered stream still works both ways during the drain.
	s.Write([]byte("pong"))
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "pong" {
		t.Fatalf("during drain: %q, %v", buf, err)
	}
	select {
	case err := <-served:
		t.Fatalf("Serve returned %v with a stream still open", err)
	default:
	}
	s.Close()
	select {
	case err := <-served:
		if err != nil {
			t.Fatalf("Serve = %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return after the last stream closed")
	}
	<-conn.Context().Done()
}
