package httpproxy

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"

	xh2 "golang.org/x/net/http2"

	"github.com/sluice-proxy/sluice/protocols/http1"
)

// An HTTP/2 upstream stream is presented to the pipeline as an HTTP/1.1
// connection carrying one exchange (as a downstream stream is, see
// h2down.go): the pipeline writes its request as HTTP/1.1 into one end of
// an in-memory pipe; a goroutine on the other end reads it with the same
// strict parser, sends it on a stream of a shared HTTP/2 connection
// (x/net's client, one per connection in Pool's h2Pool), and writes the
// response back as HTTP/1.1: Content-Length when the upstream gave one and
// announced no trailers, chunked with the trailers otherwise, 1xx interim
// responses as they come. Pipe writes hand over synchronously, so a slow
// client slows the stream's reads, and HTTP/2 flow control the upstream.

// connectH2 reserves a stream to peer on a shared HTTP/2 connection,
// dialling one when all are full.
func (hc *h1conn) connectH2(ctx context.Context, peer *Peer, key poolKey) (*upConn, error) {
	svc := hc.svc
	k := h2Key{poolKey: key, proto: peer.Protocol, maxStreams: peer.MaxStreams, ping: peer.PingInterval}
	if peer.Protocol == H3 {
		tr, err := svc.pool.h2.h3Transport(k, peer)
		if err != nil {
			return nil, err
		}
		ex := newH3Exchange(svc, tr, k, peer)
		return &upConn{c: ex, r: http1.NewReader(ex, svc.cfg.Limits), key: key, uses: 1, h2: true}, nil
	}
	dctx, cancel := svc.connectContext(ctx, peer)
	defer cancel()
	cfg := peer.TLS
	if cfg != nil && peer.Protocol != H2C {
		cfg = cfg.Clone()
		cfg.NextProtos = []string{"h2"}
		if peer.Protocol == Auto {
			cfg.NextProtos = append(cfg.NextProtos, "http/1.1")
		}
	} else {
		cfg = nil
	}
	dial := func(dctx context.Context) (net.Conn, error) { return svc.dialPeer(ctx, dctx, peer, cfg) }
	cc, c, err := svc.pool.h2.acquire(dctx, k, dial)
	switch {
	case errors.Is(err, errH1):
		if c != nil {
			return svc.newUpConn(c, key), errH1
		}
		return nil, errH1
	case err != nil:
		if !isKind(err) {
			// Waiting for another request's dial ran out of time.
			err = wrapKind(ErrConnectTimeout, errors.Join(ErrConnect, err))
		}
		return nil, err
	}
	ex := newH2Exchange(svc, cc, k, peer, dial)
	return &upConn{c: ex, r: http1.NewReader(ex, svc.cfg.Limits), key: key, uses: 1, h2: true}, nil
}

// isKind reports whether err already carries a kind of this package.
func isKind(err error) bool {
	var ke *kindError
	return errors.As(err, &ke)
}

// h2Exchange is the pipeline's end of the pipe: closing it cancels the
// stream.
type h2Exchange struct {
	net.Conn
	cancel     context.CancelFunc
	closeWrite atomic.Pointer[func()] // set while the stream carries a tunnel
}

// CloseWrite ends the request side of a tunnel (END_STREAM upstream).
func (e *h2Exchange) CloseWrite() error {
	f := e.closeWrite.Load()
	if f == nil {
		return errors.New("httpproxy: h2: no tunnel to half-close")
	}
	(*f)()
	return nil
}

func (e *h2Exchange) Close() error {
	e.cancel()
	return e.Conn.Close()
}

// newH2Exchange starts the goroutine that carries one exchange over cc (on
// which a stream is reserved).
func newH2Exchange(svc *Service, cc *xh2.ClientConn, k h2Key, peer *Peer, dial func(context.Context) (net.Conn, error)) *h2Exchange {
	a, b := net.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	ex := &h2Exchange{Conn: a, cancel: cancel}
	x := &h2Run{svc: svc, cc: cc, k: k, peer: peer, dial: dial, c: b, ctx: ctx, ex: ex}
	go x.run()
	return ex
}

// newH3Exchange is newH2Exchange for an HTTP/3 peer: its requests go
// through tr, which keeps the QUIC connections.
func newH3Exchange(svc *Service, tr http.RoundTripper, k h2Key, peer *Peer) *h2Exchange {
	a, b := net.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	ex := &h2Exchange{Conn: a, cancel: cancel}
	x := &h2Run{svc: svc, h3: tr, k: k, peer: peer, c: b, ctx: ctx, ex: ex}
	go x.run()
	return ex
}

// h2Run is one exchange's goroutine.
type h2Run struct {
	svc  *Service
	cc   *xh2.ClientConn   // HTTP/2: the connection with the stream reserved
	h3   http.RoundTripper // HTTP/3: the peer's transport (cc is nil)
	k    h2Key
	peer *Peer
	dial func(context.Context) (net.Conn, error)
	c    net.Conn // the goroutine's end of the pipe
	ex   *h2Exchange
	ctx  context.Context
	wbuf []byte
}

// maxH2Retries bounds the connections a request not processed by the
// upstream (GOAWAY, REFUSED_STREAM) is tried on.
const maxH2Retries = 3

func (x *h2Run) run() {
	defer x.c.Close()
	rd := http1.NewReader(x.c, x.svc.cfg.Limits)
	var req http1.Request
	if err := rd.ReadRequest(&req); err != nil {
		x.release()
		return
	}
	var body *trackedBody
	if req.Framing != http1.NoBody {
		body = &trackedBody{br: rd.Body(req.Framing, req.ContentLength)}
	}
	hreq, err := x.request(&req, body)
	if err != nil {
		x.release()
		return
	}
	var ws *io.PipeWriter // a WebSocket's bytes to the upstream
	wsKey := hreq.Header.Get("Sec-Websocket-Key")
	if x.cc != nil && req.Upgrade && strings.EqualFold(string(req.Header.Get("Upgrade")), "websocket") && wsKey != "" {
		// RFC 8441: an HTTP/1.1 WebSocket upgrade goes to an HTTP/2
		// upstream as an extended CONNECT (the upstream must have
		// advertised SETTINGS_ENABLE_CONNECT_PROTOCOL).
		var pr *io.PipeReader
		pr, ws = io.Pipe()
		hreq.Method, hreq.Body, hreq.ContentLength = "CONNECT", pr, -1
		hreq.Header.Del("Sec-Websocket-Key")
		hreq.Header.Set(":protocol", "websocket")
	}
	cc := x.cc
	var resp *http.Response
	for try := 1; x.h3 == nil; try++ {
		resp, err = cc.RoundTrip(hreq)
		if err == nil || try == maxH2Retries || !unprocessed(err) || (body != nil && body.touched.Load()) {
			break
		}
		// Not processed by the upstream: any request may go again, on
		// another connection.
		if cc, _, err = x.svc.pool.h2.acquire(x.ctx, x.k, x.dial); err != nil {
			break
		}
	}
	if x.h3 != nil {
		resp, err = x.h3.RoundTrip(hreq)
	}
	if err != nil {
		return // the pipeline reads a close before any response
	}
	defer resp.Body.Close()
	if ws != nil {
		defer ws.Close()
		if resp.StatusCode == 200 {
			x.tunnel(resp, wsKey, rd.Detach(), ws)
			return
		}
	}
	x.relay(hreq, resp)
}

// tunnel answers the pipeline's WebSocket upgrade with 101 once the
// upstream accepted the extended CONNECT, and carries the bytes both ways:
// the pipe's into the request body w (CloseWrite ends it), the response
// body into the pipe until the upstream ends its side.
func (x *h2Run) tunnel(resp *http.Response, key string, early []byte, w *io.PipeWriter) {
	b := append(x.wbuf[:0], "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: "...)
	b = append(b, webSocketAccept(key)...)
	b = append(b, "\r\n"...)
	b = x.fields(b, resp.Header)
	b = append(b, "\r\n"...)
	if _, err := x.c.Write(b); err != nil {
		return
	}
	end := func() { w.Close() }
	x.ex.closeWrite.Store(&end)
	go func() {
		if len(early) > 0 {
			if _, err := w.Write(early); err != nil {
				return
			}
		}
		io.Copy(w, x.c)
		w.Close()
	}()
	io.Copy(x.c, resp.Body)
}

// release gives back the stream reserved for an HTTP/2 request not sent.
func (x *h2Run) release() {
	if x.cc != nil {
		release(x.cc)
	}
}

// unprocessed reports whether a RoundTrip error says the upstream did not
// process the request: a GOAWAY below its stream, a REFUSED_STREAM, or a
// connection that became unusable before the stream was sent. net/http
// does not export these errors, so their texts are matched.
func unprocessed(err error) bool {
	s := err.Error()
	return strings.Contains(s, "GOAWAY") || strings.Contains(s, "REFUSED_STREAM") ||
		strings.Contains(s, "client conn not usable") || strings.Contains(s, "client conn is closed")
}

// trackedBody is the request body as the HTTP/2 client reads it; touched
// says a read was made, after which the request cannot be sent again.
type trackedBody struct {
	br      *http1.BodyReader
	touched atomic.Bool
}

func (b *trackedBody) Read(p []byte) (int, error) {
	b.touched.Store(true)
	return b.br.Read(p)
}

func (b *trackedBody) Close() error { return nil }

// request builds the HTTP/2 request from the pipeline's HTTP/1.1 one.
func (x *h2Run) request(req *http1.Request, body *trackedBody) (*http.Request, error) {
	scheme := "http"
	if x.k.proto != H2C {
		scheme = "https"
	}
	target := string(req.Target)
	u, err := url.ParseRequestURI(target)
	if err != nil {
		return nil, err
	}
	u.Scheme, u.Host = scheme, string(req.Host)
	if x.h3 != nil {
		u.Host = x.peer.Addr // the transport dials the URL's host
	}
	hreq := &http.Request{
		Method:     string(req.Method),
		URL:        u,
		Proto:      "HTTP/2.0",
		ProtoMajor: 2,
		Header:     make(http.Header, req.Header.Len()),
		Host:       string(req.Host),
		Body:       http.NoBody,
	}
	switch req.Framing {
	case http1.Length:
		hreq.ContentLength = req.ContentLength
	case http1.Chunked:
		hreq.ContentLength = -1
	}
	if body != nil {
		hreq.Body = body
	}
	for _, f := range req.Header.Fields() {
		name := textproto.CanonicalMIMEHeaderKey(string(f.Name))
		switch name {
		case "Host", "Connection", "Keep-Alive", "Proxy-Connection", "Transfer-Encoding", "Upgrade", "Content-Length":
			continue
		case "Te":
			if !strings.EqualFold(string(f.Value), "trailers") {
				continue
			}
		}
		hreq.Header[name] = append(hreq.Header[name], string(f.Value))
	}
	if _, ok := hreq.Header["User-Agent"]; !ok {
		hreq.Header["User-Agent"] = []string{} // none, rather than Go's
	}
	trace := &httptrace.ClientTrace{Got1xxResponse: x.interim}
	return hreq.WithContext(httptrace.WithClientTrace(x.ctx, trace)), nil
}

// interim writes a 1xx response for the pipeline to relay.
func (x *h2Run) interim(code int, h textproto.MIMEHeader) error {
	x.wbuf = x.head(x.wbuf[:0], code, http.Header(h))
	x.wbuf = append(x.wbuf, "\r\n"...)
	_, err := x.c.Write(x.wbuf)
	return err
}

// head appends a status line and fields, without the final CRLF.
func (x *h2Run) head(dst []byte, code int, h http.Header) []byte {
	dst = append(dst, "HTTP/1.1 "...)
	dst = strconv.AppendInt(dst, int64(code), 10)
	dst = append(dst, ' ')
	dst = append(dst, http.StatusText(code)...)
	dst = append(dst, "\r\n"...)
	return x.fields(dst, h)
}

// fields appends h's fields but those the HTTP/1.1 framing owns.
func (x *h2Run) fields(dst []byte, h http.Header) []byte {
	for name, vv := range h {
		switch name {
		case "Content-Length", "Transfer-Encoding", "Connection", "Keep-Alive", "Trailer":
			continue
		}
		for _, v := range vv {
			dst = append(dst, name...)
			dst = append(dst, ": "...)
			dst = append(dst, v...)
			dst = append(dst, "\r\n"...)
		}
	}
	return dst
}

// relay writes the response as HTTP/1.1 into the pipe.
func (x *h2Run) relay(hreq *http.Request, resp *http.Response) {
	b := x.head(x.wbuf[:0], resp.StatusCode, resp.Header)
	noBody := hreq.Method == "HEAD" || resp.StatusCode == 204 || resp.StatusCode == 304
	chunked := false
	switch {
	case noBody:
		if resp.ContentLength >= 0 && hreq.Method == "HEAD" {
			b = append(b, "Content-Length: "...)
			b = strconv.AppendInt(b, resp.ContentLength, 10)
			b = append(b, "\r\n"...)
		}
	case resp.Body == http.NoBody:
		// The stream ended with its HEADERS (a gRPC trailers-only
		// response among them): the client gets one HEADERS too.
		b = append(b, "Content-Length: 0\r\n"...)
		noBody = true
	case resp.ContentLength >= 0 && len(resp.Trailer) == 0:
		b = append(b, "Content-Length: "...)
		b = strconv.AppendInt(b, resp.ContentLength, 10)
		b = append(b, "\r\n"...)
	default:
		chunked = true
		b = append(b, "Transfer-Encoding: chunked\r\n"...)
	}
	b = append(b, "\r\n"...)
	x.wbuf = b
	if _, err := x.c.Write(b); err != nil || noBody {
		return
	}
	x.copyBody(resp, chunked)
}

// copyBody streams the response body into the pipe as it comes, then the
// trailers. An error leaves the body cut short, which the pipeline reports
// as the upstream's.
func (x *h2Run) copyBody(resp *http.Response, chunked bool) {
	bp := x.svc.pool.h2.buf()
	defer x.svc.pool.h2.putBuf(bp)
	buf := *bp
	for {
		n, err := resp.Body.Read(buf)
		if n > 0 {
			p := buf[:n]
			if chunked {
				x.wbuf = http1.AppendChunk(x.wbuf[:0], p)
				p = x.wbuf
			}
			if _, werr := x.c.Write(p); werr != nil {
				return
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return
		}
	}
	if !chunked {
		return
	}
	var tr http1.Header
	for name, vv := range resp.Trailer {
		for _, v := range vv {
			tr.Add(name, v)
		}
	}
	x.wbuf = http1.AppendLastChunk(x.wbuf[:0], &tr)
	x.c.Write(x.wbuf)
}

var _ net.Conn = (*h2Exchange)(nil)
