package httpproxy

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"

	"github.com/sluice-proxy/sluice/protocols/http1"
	"github.com/sluice-proxy/sluice/vstream"
)

// An HTTP/3 request runs the same pipeline as an HTTP/1.1 one, as an
// HTTP/2 stream does (h2down.go): quic-go's server hands it over as a
// net/http request; it is written as HTTP/1.1 into one end of an in-memory
// pipe whose other end the pipeline serves as a one-request connection,
// and the HTTP/1.1 response it writes back is read and sent as the HTTP/3
// response (trailers included).

// ServeHTTP3 serves HTTP/3 on the UDP socket pc (which it does not close)
// with tlsCfg's certificates until Shutdown; every request goes through the
// Proxy's phases. tlsCfg's ALPN is set to h3.
func (s *Service) ServeHTTP3(pc net.PacketConn, tlsCfg *tls.Config) error {
	limit := s.cfg.HTTP3.RetryAbove
	if limit == 0 {
		limit = DefaultRetryAbove
	}
	gate := &retryGate{limit: limit}
	admit := s.quicAdmit(pc.LocalAddr())
	tr := &quic.Transport{
		Conn:                pc,
		VerifySourceAddress: gate.verify,
		ConnContext: func(ctx context.Context, ci *quic.ClientInfo) (context.Context, error) {
			return admit(ctx, ci.RemoteAddr)
		},
	}
	tlsCfg = http3.ConfigureTLSConfig(tlsCfg)
	ln, err := tr.ListenEarly(tlsCfg, &quic.Config{Allow0RTT: s.cfg.HTTP3.ZeroRTT})
	if err != nil {
		return err
	}
	defer tr.Close()
	srv := &http3.Server{TLSConfig: tlsCfg, Handler: http.HandlerFunc(s.serveH3)}
	s.mu.Lock()
	if s.draining.Load() {
		s.mu.Unlock()
		return nil
	}
	s.h3 = append(s.h3, srv)
	s.mu.Unlock()
	err = srv.ServeListener(ln)
	if errors.Is(err, http.ErrServerClosed) || errors.Is(err, net.ErrClosed) || s.draining.Load() {
		return nil
	}
	return err
}

// shutdownH3 ends the HTTP/3 servers: GOAWAY, then their requests finish.
func (s *Service) shutdownH3(ctx context.Context) {
	s.mu.Lock()
	servers := s.h3
	s.h3 = nil
	s.mu.Unlock()
	for _, srv := range servers {
		if err := srv.Shutdown(ctx); err != nil {
			srv.Close()
		}
	}
}

// h3Conn is the pipeline's end of an HTTP/3 request's pipe, with the QUIC
// connection's addresses.
type h3Conn struct {
	net.Conn
	local, remote net.Addr
}

func (c *h3Conn) LocalAddr() net.Addr  { return c.local }
func (c *h3Conn) RemoteAddr() net.Addr { return c.remote }

// serveH3 carries one HTTP/3 request through the pipeline.
func (s *Service) serveH3(w http.ResponseWriter, r *http.Request) {
	if earlyAndUnsafe(r) {
		w.WriteHeader(http.StatusTooEarly) // the client retries after the handshake
		return
	}
	a, b := net.Pipe()
	remote := udpAddr(r.RemoteAddr)
	local, _ := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
	conn := &h3Conn{Conn: b, local: local, remote: remote}
	d := vstream.NewDigest(s.cfg.Name, conn)
	if r.TLS != nil {
		d.TLS = r.TLS
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.serveConn(r.Context(), conn, d)
	}()
	defer func() {
		a.Close()
		<-done
	}()
	if r.Method == http.MethodConnect {
		s.connectH3(a, w, r)
		return
	}
	go writeH1Request(a, r)
	relayH1Response(a, w, r.Method, s.cfg.Limits)
}

// connectH3 carries a CONNECT over HTTP/3 (RFC 9114 4.4): the pipeline
// judges it as an HTTP/1.1 CONNECT; after its 2xx the request stream is
// taken over and carries the tunnel's bytes both ways.
func (s *Service) connectH3(c net.Conn, w http.ResponseWriter, r *http.Request) {
	fmt.Fprintf(c, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n", r.Host, r.Host)
	rd := http1.NewReader(c, s.cfg.Limits)
	var resp http1.Response
	if err := rd.ReadResponse(&resp, []byte(http.MethodConnect)); err != nil {
		w.WriteHeader(http.StatusBadGateway)
		return
	}
	if resp.Status < 200 || resp.Status > 299 {
		// Refused (403, 405, 502): a plain response with its body.
		for _, f := range resp.Header.Fields() {
			w.Header().Add(string(f.Name), string(f.Value))
		}
		w.WriteHeader(resp.Status)
		io.Copy(w, rd.Body(resp.Framing, resp.ContentLength))
		return
	}
	w.WriteHeader(http.StatusOK)
	hs, ok := w.(http3.HTTPStreamer)
	if !ok {
		return
	}
	str, err := hs.HTTPStream()
	if err != nil {
		return
	}
	defer str.Close()
	early := rd.Detach()
	go func() {
		io.Copy(c, str) // the client's bytes into the tunnel
		if cw, ok := c.(interface{ CloseWrite() error }); ok {
			cw.CloseWrite()
		} else {
			c.Close()
		}
	}()
	if len(early) > 0 {
		if _, err := str.Write(early); err != nil {
			return
		}
	}
	io.Copy(str, c) // the target's bytes to the client
}

// udpAddr parses a request's RemoteAddr ("ip:port").
func udpAddr(s string) net.Addr {
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		return &net.UDPAddr{}
	}
	return net.UDPAddrFromAddrPort(ap)
}

// writeH1Request writes r as an HTTP/1.1 request into c: its head (one
// request: Connection: close), then its body, chunked when its length is
// not known, with its trailers.
func writeH1Request(c net.Conn, r *http.Request) {
	bw := bufio.NewWriter(c)
	fmt.Fprintf(bw, "%s %s HTTP/1.1\r\nHost: %s\r\n", r.Method, r.URL.RequestURI(), r.Host)
	for name, vv := range r.Header {
		switch name {
		case "Host", "Connection", "Transfer-Encoding", "Content-Length", "Trailer":
			continue
		}
		for _, v := range vv {
			fmt.Fprintf(bw, "%s: %s\r\n", name, v)
		}
	}
	chunked := false
	switch {
	case r.ContentLength > 0:
		fmt.Fprintf(bw, "Content-Length: %d\r\n", r.ContentLength)
	case r.ContentLength < 0:
		chunked = true
		bw.WriteString("Transfer-Encoding: chunked\r\n")
	}
	bw.WriteString("Connection: close\r\n\r\n")
	if err := bw.Flush(); err != nil || r.ContentLength == 0 {
		return
	}
	buf := make([]byte, 16<<10)
	for {
		n, err := r.Body.Read(buf)
		if n > 0 {
			p := buf[:n]
			if chunked {
				p = http1.AppendChunk(nil, p)
			}
			if _, werr := c.Write(p); werr != nil {
				return
			}
		}
		if err != nil {
			if errors.Is(err, io.EOF) && chunked {
				var tr http1.Header
				for name, vv := range r.Trailer {
					for _, v := range vv {
						tr.Add(name, v)
					}
				}
				c.Write(http1.AppendLastChunk(nil, &tr))
			}
			return
		}
	}
}

// relayH1Response reads the pipeline's HTTP/1.1 response from c and sends
// it on w, interim responses first, flushing as the body comes.
func relayH1Response(c net.Conn, w http.ResponseWriter, method string, lim http1.Limits) {
	rd := http1.NewReader(c, lim)
	var resp http1.Response
	for {
		if err := rd.ReadResponse(&resp, []byte(method)); err != nil {
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		if resp.Status >= 200 {
			break
		}
	}
	h := w.Header()
	for _, f := range resp.Header.Fields() {
		name := http.CanonicalHeaderKey(string(f.Name))
		switch name {
		case "Connection", "Keep-Alive", "Transfer-Encoding", "Upgrade", "Proxy-Connection":
			continue
		}
		h.Add(name, string(f.Value))
	}
	if resp.Framing == http1.Length {
		h.Set("Content-Length", strconv.FormatInt(resp.ContentLength, 10))
	}
	w.WriteHeader(resp.Status)
	if resp.Framing == http1.NoBody {
		return
	}
	fl, _ := w.(http.Flusher)
	br := rd.Body(resp.Framing, resp.ContentLength)
	for {
		p, err := br.Next()
		if len(p) > 0 {
			if _, werr := w.Write(p); werr != nil {
				return
			}
			if fl != nil && !br.Ready() {
				fl.Flush()
			}
		}
		if err != nil {
			if errors.Is(err, io.EOF) && resp.Framing == http1.Chunked {
				for _, f := range br.Trailers().Fields() {
					h.Add(http.TrailerPrefix+string(f.Name), strings.TrimSpace(string(f.Value)))
				}
			}
			return
		}
	}
}
