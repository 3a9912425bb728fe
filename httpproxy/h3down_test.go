package httpproxy

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"

	"github.com/sluice-proxy/sluice/connfilter"
	"github.com/sluice-proxy/sluice/internal/testcert"
	"github.com/sluice-proxy/sluice/transport"
)

// HTTP/3 downstream: quic-go's client through ServeHTTP3 to an HTTP/1.1
// origin: a GET, and a POST with a body of unknown length echoed with its
// trailer; the access log has the client's UDP address.
func TestHTTP3Downstream(t *testing.T) {
	c, base, h := h3Service(t, Config{})
	resp, err := c.Get(base + "/h3")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.ProtoMajor != 3 || !strings.HasPrefix(string(b), "origin GET /h3") {
		t.Fatalf("GET over h3: %s %d %q", resp.Proto, resp.StatusCode, b)
	}
	if m := h.request(t); !strings.HasPrefix(m["client"], "127.0.0.1:") || m["target"] != "/h3" {
		t.Errorf("logged %v", m)
	}
	payload := bytes.Repeat([]byte("h3body"), 10000)
	resp, err = c.Post(base+"/echo", "application/octet-stream", io.MultiReader(bytes.NewReader(payload)))
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if !bytes.Equal(b, payload) || resp.Trailer.Get("X-Sum") != fmt.Sprint(len(payload)) {
		t.Fatalf("POST over h3: %d bytes, trailer %v", len(b), resp.Trailer)
	}
}

// HTTP/3 upstream (Peer.Protocol H3): an HTTP/1.1 client's requests reach
// a quic-go HTTP/3 origin, bodies and trailers carried, over one QUIC
// connection.
func TestHTTP3Upstream(t *testing.T) {
	ca, err := testcert.NewCA(t.TempDir(), "ca")
	if err != nil {
		t.Fatal(err)
	}
	pair, err := ca.Server("origin.example")
	if err != nil {
		t.Fatal(err)
	}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	origin := &http3.Server{TLSConfig: http3.ConfigureTLSConfig(&tls.Config{Certificates: []tls.Certificate{pair.TLS}}), Handler: h2Handler()}
	go origin.Serve(pc)
	defer origin.Close()
	cfg, err := transport.NewTLSClient(transport.ClientTLS{SNI: "origin.example", CA: ca.CertFile})
	if err != nil {
		t.Fatal(err)
	}
	h := startService(t, static{&Peer{Addr: pc.LocalAddr().String(), TLS: cfg, Protocol: H3}}, Config{})
	c := dialProxy(t, h.addr)
	c.send("GET /h3up HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, body := c.response("GET")
	if resp.StatusCode != 200 || !strings.HasPrefix(body, "origin GET /h3up") || resp.Header.Get("X-Proto-Seen") != "HTTP/3.0" {
		t.Fatalf("to an HTTP/3 origin: %d %q %v", resp.StatusCode, body, resp.Header)
	}
	c.send("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n")
	resp, body = c.response("POST")
	if resp.StatusCode != 200 || body != "hello" || resp.Trailer.Get("X-Sum") != "5" {
		t.Fatalf("chunked POST to HTTP/3: %d %q trailer %v", resp.StatusCode, body, resp.Trailer)
	}
}

// CONNECT over HTTP/3 (RFC 9114 4.4): a tunnel on the request stream to an
// allowed target; a target outside the allow list gets 403.
func TestHTTP3Connect(t *testing.T) {
	target := echoTarget(t)
	c, base, _ := h3Service(t, Config{Connect: &ConnectConfig{Allow: []string{target}}})
	ctx, cancel := context.WithTimeout(context.Background(), safety)
	defer cancel()
	cc := h3ClientConn(t, ctx, c, base)
	for _, tc := range []struct {
		target string
		status int
	}{{"127.0.0.1:1", 403}, {target, 200}} {
		rs, err := cc.OpenRequestStream(ctx)
		if err != nil {
			t.Fatal(err)
		}
		req := &http.Request{Method: http.MethodConnect, Host: tc.target, URL: &url.URL{Host: tc.target}, Header: http.Header{}}
		if err := rs.SendRequestHeader(req.WithContext(ctx)); err != nil {
			t.Fatal(err)
		}
		resp, err := rs.ReadResponse()
		if err != nil || resp.StatusCode != tc.status {
			t.Fatalf("CONNECT %s over h3: %v %v, want %d", tc.target, resp, err, tc.status)
		}
		if tc.status != 200 {
			rs.Close()
			continue
		}
		rs.Write([]byte("ping"))
		got := make([]byte, 4)
		if _, err := io.ReadFull(rs, got); err != nil || string(got) != "ping" {
			t.Fatalf("through the h3 tunnel: %q %v", got, err)
		}
		rs.Close()
	}
}

// h3Service serves HTTP/3 with cfg in front of an HTTP/1.1 origin and
// returns a client for it and its address.
func h3Service(t *testing.T, cfg Config) (*http.Client, string, *proxyHarness) {
	t.Helper()
	ca, err := testcert.NewCA(t.TempDir(), "ca")
	if err != nil {
		t.Fatal(err)
	}
	pair, err := ca.Server("localhost")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := transport.NewTLSServer(transport.ServerTLS{Certificates: []transport.CertFiles{{Cert: pair.CertFile, Key: pair.KeyFile}}})
	if err != nil {
		t.Fatal(err)
	}
	h := startService(t, static{&Peer{Addr: h2Origin(t).addr}}, cfg)
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go h.svc.ServeHTTP3(pc, srv.Config())
	tr := &http3.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool, ServerName: "localhost"}}
	t.Cleanup(func() { tr.Close() })
	return &http.Client{Transport: tr, Timeout: safety}, "https://" + pc.LocalAddr().String(), h
}

// h3ClientConn opens an HTTP/3 connection to base with c's TLS settings,
// for request streams of the test's own (CONNECT).
func h3ClientConn(t *testing.T, ctx context.Context, c *http.Client, base string) *http3.ClientConn {
	t.Helper()
	tr := c.Transport.(*http3.Transport)
	cfg := tr.TLSClientConfig.Clone()
	cfg.NextProtos = []string{http3.NextProtoH3}
	qc, err := quic.DialAddr(ctx, strings.TrimPrefix(base, "https://"), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { qc.CloseWithError(0, "") })
	return tr.NewClientConn(qc)
}

// The connection filters judge a QUIC connection before its handshake: a
// denied source never gets a response, and is counted.
func TestHTTP3Filtered(t *testing.T) {
	deny, err := connfilter.NewCIDR(nil, []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")})
	if err != nil {
		t.Fatal(err)
	}
	c, base, h := h3Service(t, Config{Filter: deny})
	c.Timeout = 2 * time.Second // the client would retransmit its Initial until then
	if resp, err := c.Get(base + "/"); err == nil {
		resp.Body.Close()
		t.Fatalf("a denied source got %d over HTTP/3", resp.StatusCode)
	}
	if v := h.metric(t, "sluice_http_rejected_total"); v < 1 {
		t.Fatalf("rejected = %v, want the QUIC connection counted", v)
	}
}

// With Retry for every new connection (RetryAbove < 0) clients still get
// through, one round trip later.
func TestHTTP3Retry(t *testing.T) {
	c, base, _ := h3Service(t, Config{HTTP3: HTTP3Config{RetryAbove: -1}})
	resp, err := c.Get(base + "/retry")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(string(b), "origin GET /retry") {
		t.Fatalf("after a Retry: %d %q", resp.StatusCode, b)
	}
}

// The gate asks for a Retry once a source passes its allowance in a
// second, and only of that source.
func TestRetryGate(t *testing.T) {
	a := &net.UDPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 1}
	b := &net.UDPAddr{IP: net.IPv4(192, 0, 2, 2), Port: 1}
	retried := false
	// The second may turn between calls and restart the count; a few
	// tries make sure one sequence falls within a second.
	for try := 0; try < 5 && !retried; try++ {
		g := &retryGate{limit: 2}
		got := []bool{g.verify(a), g.verify(a), g.verify(a), g.verify(b)}
		if got[0] || got[1] || got[3] {
			t.Fatalf("verify a, a, a, b = %v: a Retry before the allowance was spent", got)
		}
		retried = got[2]
	}
	if !retried {
		t.Fatal("the third new connection of a source in a second was never asked for a Retry")
	}
	if !(&retryGate{limit: -1}).verify(a) {
		t.Fatal("limit < 0 must always ask for a Retry")
	}
}

// CONNECT over HTTP/3 in pipeline mode: the stream's inside is served as a
// connection of the same Service.
func TestHTTP3ConnectPipeline(t *testing.T) {
	c, base, h := h3Service(t, Config{Connect: &ConnectConfig{Allow: []string{"app.internal:80"}, Mode: ConnectPipeline}})
	ctx, cancel := context.WithTimeout(context.Background(), safety)
	defer cancel()
	rs, err := h3ClientConn(t, ctx, c, base).OpenRequestStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	req := &http.Request{Method: http.MethodConnect, Host: "app.internal:80", URL: &url.URL{Host: "app.internal:80"}, Header: http.Header{}}
	if err := rs.SendRequestHeader(req.WithContext(ctx)); err != nil {
		t.Fatal(err)
	}
	if resp, err := rs.ReadResponse(); err != nil || resp.StatusCode != 200 {
		t.Fatalf("CONNECT: %v %v", resp, err)
	}
	io.WriteString(rs, "GET /in-h3 HTTP/1.1\r\nHost: app.internal\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(rs), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<10))
	if resp.StatusCode != 200 || !strings.HasPrefix(string(b), "origin GET /in-h3") {
		t.Fatalf("inner request over an h3 CONNECT: %d %q", resp.StatusCode, b)
	}
	if m := h.request(t); m["target"] != "/in-h3" {
		t.Errorf("logged %v", m)
	}
}

// In 0-RTT (the handshake not complete yet) only safe methods are served;
// the others get 425 Too Early without reaching the upstream.
func TestHTTP3EarlyDataPolicy(t *testing.T) {
	svc, err := New(static{&Peer{Addr: "127.0.0.1:1"}}, Config{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		method   string
		complete bool
		early    bool
	}{{"POST", false, true}, {"DELETE", false, true}, {"GET", false, false}, {"POST", true, false}} {
		r := &http.Request{Method: tc.method, TLS: &tls.ConnectionState{HandshakeComplete: tc.complete}}
		if got := earlyAndUnsafe(r); got != tc.early {
			t.Errorf("%s, handshake complete %v: early and unsafe = %v", tc.method, tc.complete, got)
		}
	}
	rec := &h3Recorder{header: http.Header{}}
	svc.serveH3(rec, (&http.Request{Method: "POST", TLS: &tls.ConnectionState{}, Header: http.Header{}}).WithContext(context.Background()))
	if rec.status != http.StatusTooEarly {
		t.Fatalf("a POST in early data got %d, want 425", rec.status)
	}
}

// h3Recorder is a minimal http.ResponseWriter.
type h3Recorder struct {
	header http.Header
	status int
}

func (r *h3Recorder) Header() http.Header         { return r.header }
func (r *h3Recorder) Write(p []byte) (int, error) { return len(p), nil }
func (r *h3Recorder) WriteHeader(code int)        { r.status = code }
