package httpproxy

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/sluice-proxy/sluice/protocols/http1"
)

// writeWhole sends resp with a whole body to the client.
func (hc *h1conn) writeWhole(s *Session, resp *http1.Response, body []byte) error {
	if resp.Status == 0 {
		resp.Status = http.StatusOK
	}
	resp.Version = 11
	noBody := bodyless(resp.Status)
	if hc.req.Framing != http1.NoBody && !hc.rq.bodyDone {
		s.closeConn = true // the unread request body would be taken for the next request
	}
	if ph := hc.svc.ph.response; ph != nil {
		if err := ph.ResponseFilter(context.Background(), s, resp); err != nil {
			hc.svc.log.Warn("http response filter failed", "service", hc.svc.cfg.Name, "error", err)
		}
	}
	// The body is whole, so its length is known: it frames the response
	// whatever the filter did.
	resp.Header.Del("Transfer-Encoding")
	if !noBody {
		resp.Header.Set("Content-Length", strconv.Itoa(len(body)))
	}
	hc.setConnection(s, &resp.Header)
	hc.altSvc(&resp.Header)
	hc.wbuf = resp.AppendHead(hc.wbuf[:0])
	if !noBody && !bytes.Equal(hc.req.Method, []byte("HEAD")) {
		hc.wbuf = append(hc.wbuf, body...)
		s.ResponseBodyBytes += int64(len(body))
	}
	s.headSent = true
	s.Status = resp.Status
	// A response of the proxy's own often comes after a long wait (an
	// upstream timeout, a stalled body): its write gets a deadline of its
	// own, not what is left of the request's.
	hc.clock = time.Now()
	if err := hc.flush(); err != nil {
		// The client got nothing: the log and metrics say so.
		s.undelivered, s.Status = s.Status, 0
		return err
	}
	return nil
}

// altSvc adds Config.AltSvc to a response that has no Alt-Svc of its own.
func (hc *h1conn) altSvc(h *http1.Header) {
	if a := hc.svc.cfg.AltSvc; a != "" && !h.Has("Alt-Svc") {
		h.Set("Alt-Svc", a)
	}
}

// bodyless reports whether a response with status never has a body.
func bodyless(status int) bool {
	return status < 200 || status == http.StatusNoContent || status == http.StatusNotModified
}

// fail answers a request that failed, when no response head has been sent:
// FailToProxy may answer it itself or choose the status; the default is
// StatusOf(err) with a short plain-text body naming the failure.
func (hc *h1conn) fail(ctx context.Context, s *Session, err error) {
	s.closeConn = true
	status := 0
	if ph := hc.svc.ph.failProxy; ph != nil {
		status = ph.FailToProxy(ctx, s, err)
	}
	if s.headSent {
		return
	}
	if status == 0 && isGRPC(&hc.req) {
		hc.failGRPC(s, err)
		return
	}
	if status == 0 {
		status = StatusOf(err)
	}
	body := make([]byte, 0, 96)
	body = strconv.AppendInt(body, int64(status), 10)
	body = append(body, ' ')
	body = append(body, http.StatusText(status)...)
	if msg := failureText(err); msg != "" {
		body = append(body, ": "...)
		body = append(body, msg...)
	}
	body = append(body, '\n')
	s.Respond(status, "text/plain; charset=utf-8", body)
}

// failureText says what went wrong in words fit for a client: the kind of
// failure, never addresses or internals.
func failureText(err error) string {
	switch kindLabel(err) {
	case "downstream_protocol":
		return "malformed request"
	case "header_timeout":
		return "request head not received in time"
	case "downstream_timeout":
		return "request body not received in time"
	case "local_resource":
		return "the proxy is out of resources; try again"
	case "request_too_large":
		return "request body too large"
	case "no_peer":
		return "no upstream available"
	case "connect_timeout":
		return "connecting to the upstream timed out"
	case "connect":
		return "could not connect to the upstream"
	case "upstream_tls":
		return "the TLS handshake with the upstream failed"
	case "upstream_timeout":
		return "the upstream did not answer in time"
	case "upstream_protocol":
		return "the upstream sent a malformed response"
	case "upstream_closed":
		return "the upstream closed the connection"
	}
	return ""
}

// finish ends a request: metrics, the access log line and Logging.
func (hc *h1conn) finish(ctx context.Context, s *Session, err error) {
	s.End = hc.tick()
	s.pick.done(err) // Balanced's books: before the log line, which marks the end
	svc := hc.svc
	if svc.m != nil {
		svc.m.request(s, err)
	}
	if svc.cfg.AccessLog {
		hc.accessLog(s, err)
	}
	if svc.ph.logging != nil {
		svc.ph.logging.Logging(ctx, s, err)
	}
	s.Ctx = nil
}

func (hc *h1conn) accessLog(s *Session, err error) {
	attrs := []slog.Attr{
		slog.String("service", hc.svc.cfg.Name),
		slog.String("method", string(hc.req.Method)),
		slog.String("target", string(hc.req.Target)),
		slog.Int("status", s.Status),
		slog.Int64("request_body_bytes", s.RequestBodyBytes),
		slog.Int64("response_body_bytes", s.ResponseBodyBytes),
		slog.Duration("duration", s.End.Sub(s.Start)),
	}
	if a := s.ClientAddr(); a != nil {
		attrs = append(attrs, slog.String("client", a.String()))
	}
	if s.Peer != nil {
		attrs = append(attrs, slog.String("upstream", s.Peer.Addr), slog.Bool("reused", s.Reused), slog.Int("tries", s.Tries))
	}
	if s.Route != "" {
		attrs = append(attrs, slog.String("route", s.Route))
	}
	if d := s.Digest; d != nil && d.TLSInfo != nil {
		attrs = append(attrs, slog.String("tls", d.TLSInfo.Version), slog.String("ja4", d.TLSInfo.JA4))
	}
	if s.undelivered != 0 {
		// The response the proxy meant to send, lost with the client.
		attrs = append(attrs, slog.Int("undelivered_status", s.undelivered))
	}
	level := slog.LevelInfo
	if err != nil {
		level = slog.LevelWarn
		attrs = append(attrs, slog.String("error", err.Error()), slog.String("kind", kindLabel(err)))
	}
	hc.svc.log.LogAttrs(context.Background(), level, "http request", attrs...)
}
