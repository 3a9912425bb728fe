package http2

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/sluice-proxy/sluice/internal/testserve"
)

// guard bounds waits that end by themselves when the server works; it is
// no timing assertion.
const guard = 10 * time.Second

// server runs Serve for every connection to a loopback listener and
// reports each Serve's result.
type server struct {
	addr string
	errs chan error
}

func startServer(t *testing.T, lim Limits, h Handler) *server {
	t.Helper()
	s := &server{errs: make(chan error, 16)}
	s.addr = testserve.TCP(t, func(c net.Conn) { s.errs <- Serve(c, lim, h) })
	return s
}

// client is an HTTP/2 client with prior knowledge (h2c), from x/net; its
// connections close when the test ends.
func client(t *testing.T) *http.Client {
	tr := &http2.Transport{
		AllowHTTP: true,
		DialTLSContext: func(ctx context.Context, network, addr string, _ *tls.Config) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		},
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Timeout: guard, Transport: tr}
}

// echo answers GET with the path and echoes a POST's body, with its length
// as a trailer.
func echo(st *Stream) {
	if st.Method == "GET" {
		st.WriteHeader(200, []hpack.HeaderField{{Name: "content-type", Value: "text/plain"}}, false)
		st.Write([]byte("hello " + st.Path))
		return
	}
	st.WriteHeader(200, nil, false)
	n, _ := io.Copy(st, st.Body)
	st.Close([]hpack.HeaderField{{Name: "x-length", Value: fmt.Sprint(n)}})
}

// A real HTTP/2 client: GETs, and a POST of 1 MiB (four times the stream
// window: flow control both ways) echoed back whole, with trailers.
func TestServeRequests(t *testing.T) {
	s := startServer(t, Limits{}, echo)
	c := client(t)
	resp, err := c.Get("http://" + s.addr + "/x?y")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(b) != "hello /x?y" || resp.Header.Get("Content-Type") != "text/plain" || resp.ProtoMajor != 2 {
		t.Fatalf("GET: %d %q %v", resp.StatusCode, b, resp.Header)
	}
	payload := bytes.Repeat([]byte("0123456789abcdef"), 64<<10)
	resp, err = c.Post("http://"+s.addr+"/echo", "application/octet-stream", bytes.NewReader(payload))
	if err != nil {
		t.Fatal(err)
	}
	b, err = io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || !bytes.Equal(b, payload) {
		t.Fatalf("POST echo: %d bytes, %v", len(b), err)
	}
	if got := resp.Trailer.Get("X-Length"); got != fmt.Sprint(len(payload)) {
		t.Fatalf("trailer x-length %q", got)
	}
}

// Many streams at once on one connection.
func TestServeConcurrentStreams(t *testing.T) {
	s := startServer(t, Limits{}, echo)
	c := client(t)
	var wg sync.WaitGroup
	errs := make(chan error, 50)
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := c.Get(fmt.Sprintf("http://%s/%d", s.addr, i))
			if err != nil {
				errs <- err
				return
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if string(b) != fmt.Sprintf("hello /%d", i) {
				errs <- fmt.Errorf("stream %d got %q", i, b)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// rawClient speaks frames to the server directly, as an attacker would.
type rawClient struct {
	t   *testing.T
	c   net.Conn
	fr  *http2.Framer
	enc *hpack.Encoder
	buf bytes.Buffer
}

func dialRaw(t *testing.T, addr string) *rawClient {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(guard))
	rc := &rawClient{t: t, c: c, fr: http2.NewFramer(c, c)}
	rc.enc = hpack.NewEncoder(&rc.buf)
	if _, err := io.WriteString(c, http2.ClientPreface); err != nil {
		t.Fatal(err)
	}
	if err := rc.fr.WriteSettings(); err != nil {
		t.Fatal(err)
	}
	return rc
}

// headerBlock encodes a GET's head, with extra fields.
func (rc *rawClient) headerBlock(extra ...hpack.HeaderField) []byte {
	rc.buf.Reset()
	for _, f := range append([]hpack.HeaderField{{Name: ":method", Value: "GET"}, {Name: ":scheme", Value: "http"},
		{Name: ":authority", Value: "x"}, {Name: ":path", Value: "/"}}, extra...) {
		rc.enc.WriteField(f)
	}
	return append([]byte(nil), rc.buf.Bytes()...)
}

// goAway reads frames until a GOAWAY and returns its code (the reads stop
// at the server's close otherwise).
func (rc *rawClient) goAway() (http2.ErrCode, bool) {
	for {
		f, err := rc.fr.ReadFrame()
		if err != nil {
			return 0, false
		}
		if ga, ok := f.(*http2.GoAwayFrame); ok {
			return ga.ErrCode, true
		}
	}
}

// Rapid reset: a client opening and cancelling streams as fast as it can
// is told to calm down and closed; a fresh client is served.
func TestRapidReset(t *testing.T) {
	s := startServer(t, Limits{}, func(st *Stream) {
		io.Copy(io.Discard, st.Body)
		st.WriteHeader(200, nil, true)
	})
	rc := dialRaw(t, s.addr)
	go func() {
		for id := uint32(1); id < 4000; id += 2 {
			if rc.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: rc.headerBlock(), EndHeaders: true}) != nil ||
				rc.fr.WriteRSTStream(id, http2.ErrCodeCancel) != nil {
				return
			}
		}
	}()
	if code, ok := rc.goAway(); !ok || code != http2.ErrCodeEnhanceYourCalm {
		t.Fatalf("GOAWAY %v (%v), want ENHANCE_YOUR_CALM", code, ok)
	}
	if err := <-s.errs; !errors.Is(err, ErrCalm) {
		t.Fatalf("Serve = %v, want ErrCalm", err)
	}
	unharmed(t, s)
}

// PING and SETTINGS floods end the connection the same way.
func TestControlFloods(t *testing.T) {
	s := startServer(t, Limits{}, echo)
	for _, kind := range []string{"ping", "settings"} {
		rc := dialRaw(t, s.addr)
		go func() {
			for i := range 2000 {
				var err error
				if kind == "ping" {
					err = rc.fr.WritePing(false, [8]byte{byte(i)})
				} else {
					err = rc.fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 65535})
				}
				if err != nil {
					return
				}
			}
		}()
		if code, ok := rc.goAway(); !ok || code != http2.ErrCodeEnhanceYourCalm {
			t.Fatalf("%s flood: GOAWAY %v (%v), want ENHANCE_YOUR_CALM", kind, code, ok)
		}
		if err := <-s.errs; !errors.Is(err, ErrCalm) {
			t.Fatalf("%s flood: Serve = %v, want ErrCalm", kind, err)
		}
	}
	unharmed(t, s)
}

// A header list over the limit, spread over CONTINUATION frames (the
// CONTINUATION flood and HPACK bomb shapes), ends the connection.
func TestHeaderListBound(t *testing.T) {
	s := startServer(t, Limits{MaxHeaderListSize: 16 << 10}, echo)
	rc := dialRaw(t, s.addr)
	var extra []hpack.HeaderField
	for i := range 64 {
		extra = append(extra, hpack.HeaderField{Name: fmt.Sprintf("x-pad-%d", i), Value: strings.Repeat("a", 1000)})
	}
	block := rc.headerBlock(extra...)
	go func() {
		rc.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: block[:1000], EndStream: true})
		for rest := block[1000:]; len(rest) > 0; {
			n := min(len(rest), 1000)
			if rc.fr.WriteContinuation(1, n == len(rest), rest[:n]) != nil {
				return
			}
			rest = rest[n:]
		}
	}()
	rc.goAway() // the server ends the connection (GOAWAY or a reset stream first)
	select {
	case err := <-s.errs:
		if err == nil {
			t.Fatal("Serve ended cleanly after a header list over the limit")
		}
	case <-time.After(guard):
		t.Fatal("the connection with an oversized header list is still served")
	}
	unharmed(t, s)
}

// Streams over MaxConcurrentStreams are refused; the others are served.
func TestMaxConcurrentStreams(t *testing.T) {
	release := make(chan struct{})
	s := startServer(t, Limits{MaxConcurrentStreams: 2}, func(st *Stream) {
		<-release
		st.WriteHeader(204, nil, true)
	})
	rc := dialRaw(t, s.addr)
	for id := uint32(1); id <= 5; id += 2 {
		if err := rc.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: rc.headerBlock(), EndStream: true, EndHeaders: true}); err != nil {
			t.Fatal(err)
		}
	}
	for {
		f, err := rc.fr.ReadFrame()
		if err != nil {
			t.Fatal(err)
		}
		if rst, ok := f.(*http2.RSTStreamFrame); ok {
			if rst.StreamID != 5 || rst.ErrCode != http2.ErrCodeRefusedStream {
				t.Fatalf("RST_STREAM %d %v, want stream 5 REFUSED_STREAM", rst.StreamID, rst.ErrCode)
			}
			break
		}
	}
	close(release)
	done := map[uint32]bool{}
	for len(done) < 2 {
		f, err := rc.fr.ReadFrame()
		if err != nil {
			t.Fatal(err)
		}
		if h, ok := f.(*http2.HeadersFrame); ok && h.StreamEnded() {
			done[h.StreamID] = true
		}
	}
	if !done[1] || !done[3] {
		t.Fatalf("answered %v, want streams 1 and 3", done)
	}
}

// Malformed request heads are refused per stream (RFC 9113 8.3.1, 8.2.2).
func TestMalformedHeadsRefused(t *testing.T) {
	s := startServer(t, Limits{}, echo)
	rc := dialRaw(t, s.addr)
	bad := [][]hpack.HeaderField{
		{{Name: "connection", Value: "keep-alive"}},
		{{Name: "te", Value: "gzip"}},
		{{Name: "transfer-encoding", Value: "chunked"}},
	}
	for i, extra := range bad {
		id := uint32(2*i + 1)
		if err := rc.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: rc.headerBlock(extra...), EndStream: true, EndHeaders: true}); err != nil {
			t.Fatal(err)
		}
		for {
			f, err := rc.fr.ReadFrame()
			if err != nil {
				t.Fatal(err)
			}
			if rst, ok := f.(*http2.RSTStreamFrame); ok {
				if rst.StreamID != id || rst.ErrCode != http2.ErrCodeProtocol {
					t.Fatalf("%v: RST_STREAM %d %v", extra, rst.StreamID, rst.ErrCode)
				}
				break
			}
		}
	}
}

// unharmed: a fresh client is served after an attack on another
// connection.
func unharmed(t *testing.T, s *server) {
	t.Helper()
	resp, err := client(t).Get("http://" + s.addr + "/ok")
	if err != nil {
		t.Fatalf("a fresh client after the attack: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("a fresh client after the attack: %d %q", resp.StatusCode, b)
	}
}

// A connection with no stream open is closed after IdleTimeout with
// GOAWAY NO_ERROR; Serve returns nil.
func TestIdleTimeout(t *testing.T) {
	s := startServer(t, Limits{IdleTimeout: 100 * time.Millisecond}, echo)
	rc := dialRaw(t, s.addr)
	if code, ok := rc.goAway(); !ok || code != http2.ErrCodeNo {
		t.Fatalf("idle connection: GOAWAY %v (%v), want NO_ERROR", code, ok)
	}
	if err := <-s.errs; err != nil {
		t.Fatalf("Serve = %v, want nil", err)
	}
}

// Draining: GOAWAY NO_ERROR, the stream in flight finishes, then the
// connection ends and Serve returns nil.
func TestServeDrain(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	drain := make(chan struct{})
	errs := make(chan error, 1)
	addr := testserve.TCP(t, func(c net.Conn) {
		errs <- ServeDrain(c, Limits{}, func(st *Stream) {
			close(entered)
			<-release
			st.WriteHeader(200, nil, false)
			st.Write([]byte("finished"))
		}, drain)
	})
	c := client(t)
	got := make(chan string, 1)
	go func() {
		resp, err := c.Get("http://" + addr + "/")
		if err != nil {
			got <- err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		got <- string(b)
	}()
	<-entered
	close(drain)
	close(release)
	if g := <-got; g != "finished" {
		t.Fatalf("the stream in flight got %q", g)
	}
	if err := <-errs; err != nil {
		t.Fatalf("ServeDrain = %v, want nil", err)
	}
}
