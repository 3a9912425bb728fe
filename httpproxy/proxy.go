package httpproxy

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"

	"github.com/sluice-proxy/sluice/internal/localerr"
	"github.com/sluice-proxy/sluice/internal/zero"
	"github.com/sluice-proxy/sluice/protocols/http1"
	"github.com/sluice-proxy/sluice/transport"
)

var (
	errAlreadyResponded = errors.New("httpproxy: a response was already sent")
	errUnanswered       = errors.New("httpproxy: RequestFilter handled the request without answering it")
	errNilPeer          = errors.New("httpproxy: UpstreamPeer returned no peer and no error")
	errConnect          = errors.New("httpproxy: CONNECT is not proxied")
)

// proxy runs the phases of one request up to a sent response.
func (hc *h1conn) proxy(ctx context.Context, s *Session) error {
	ph := &hc.svc.ph
	if ph.early != nil {
		if err := ph.early.EarlyRequestFilter(ctx, s); err != nil {
			return wrapKind(ErrInternal, err)
		}
	}
	if ph.request != nil {
		handled, err := ph.request.RequestFilter(ctx, s)
		if err != nil {
			return wrapKind(ErrInternal, err)
		}
		if handled {
			if !s.answered {
				return wrapKind(ErrInternal, errUnanswered)
			}
			return nil
		}
	}
	if max := hc.svc.cfg.MaxRequestBody; max > 0 && hc.req.ContentLength > max {
		return wrapKind(ErrRequestTooLarge, fmt.Errorf("Content-Length %d over %d", hc.req.ContentLength, max))
	}
	if bytes.Equal(hc.req.Method, []byte("CONNECT")) {
		return hc.serveConnect(ctx, s)
	}
	for {
		peer, err := ph.peer.UpstreamPeer(ctx, s)
		if err == nil && peer == nil {
			err = errNilPeer
		}
		if err != nil {
			return wrapKind(ErrNoPeer, err)
		}
		s.Peer = peer
		s.Tries++
		uc, reused, err := hc.connect(ctx, peer)
		if err != nil {
			if errors.Is(err, ErrLocalResource) {
				// Our own shortage: the peer never saw a byte, and the
				// next try would fail the same way.
				return err
			}
			if hc.svc.m != nil {
				hc.svc.m.connectError(peer.Addr, kindLabel(err))
			}
			s.pick.connectFailed()
			next := Retryable(err)
			if ph.failConn != nil {
				if next = ph.failConn.FailToConnect(ctx, s, peer, err); next == nil {
					next = err
				}
			}
			s.LastError = next
			if IsRetryable(next) && s.Tries <= hc.svc.retries && ctx.Err() == nil {
				continue
			}
			return next
		}
		s.Reused = reused
		s.Connected = hc.tick()
		if hc.svc.m != nil {
			hc.svc.m.upstreamConn(reused)
		}
		if ph.connected != nil {
			if err := ph.connected.ConnectedToUpstream(ctx, s, peer, reused); err != nil {
				uc.c.Close()
				return wrapKind(ErrInternal, err)
			}
		}
		err = hc.exchange(ctx, s, uc)
		if err == nil {
			return nil
		}
		// Retrying is safe only while the upstream may not have acted on
		// the request: no request body streamed, nothing answered.
		safe := !s.headSent && !hc.rq.bodyStreamed && ctx.Err() == nil
		if reused && safe && !hc.rq.respStarted && hc.idempotent() && staleFailure(err) {
			// A pooled connection the upstream had closed, and a request that
			// may be sent twice: not the peer's
			// fault, so no phase hears of it and no retry is spent; the
			// next try dials afresh (so this happens once at most).
			hc.rq.fresh = true
			s.LastError = err
			continue
		}
		next := err
		if ph.whileProxy != nil {
			if next = ph.whileProxy.ErrorWhileProxy(ctx, s, peer, err); next == nil {
				next = err
			}
		}
		s.LastError = next
		if IsRetryable(next) && safe && s.Tries <= hc.svc.retries {
			continue
		}
		return next
	}
}

// idempotent reports whether the request may be sent twice (RFC 9110
// 9.2.2): an idempotent method, or an Idempotency-Key field.
func (hc *h1conn) idempotent() bool {
	switch string(hc.req.Method) {
	case "GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE":
		return true
	}
	return hc.req.Header.Has("Idempotency-Key")
}

// staleFailure reports whether err is what a pooled connection the
// upstream had closed gives: the close (EOF or a reset) before any byte
// of a response. A response cut short is not one.
func staleFailure(err error) bool {
	if !errors.Is(err, ErrUpstreamClosed) || errors.Is(err, io.ErrUnexpectedEOF) {
		return false
	}
	return errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// connect takes a pooled connection to peer or dials a new one. For an
// HTTP/2 peer it is a stream on a shared connection (see connectH2).
func (hc *h1conn) connect(ctx context.Context, peer *Peer) (*upConn, bool, error) {
	svc := hc.svc
	key := keyOf(peer)
	if peer.multiplexed() {
		uc, err := hc.connectH2(ctx, peer, key)
		if !errors.Is(err, errH1) {
			return uc, false, err
		}
		if uc != nil {
			return uc, false, nil // Auto: ALPN chose HTTP/1.1 on a new connection
		}
	}
	// A pooled connection is probed for a close (one recv) only when a
	// failure could not be retried (the method is not idempotent, or the
	// request streams a body) or the connection sat idle long enough for
	// the upstream to have dropped it. Otherwise a stale one shows as a
	// close before any response byte, and the request is retried on a
	// fresh connection (see proxy).
	retryable := hc.idempotent() && (hc.req.Framing == http1.NoBody || hc.rq.bodyDone)
	for !hc.rq.fresh {
		uc := svc.pool.get(key, hc.clock)
		if uc == nil {
			break
		}
		if (retryable && hc.clock.Sub(uc.idleSince) < probeAfter && uc.r.Buffered() == 0) ||
			alive(uc, hc.clock, zero.Duration(peer.ReadTimeout, svc.to.UpstreamRead)) {
			uc.uses++
			return uc, true, nil
		}
		uc.c.Close()
	}
	hc.rq.fresh = false
	dctx, cancel := hc.svc.connectContext(ctx, peer)
	defer cancel()
	c, err := svc.dialPeer(ctx, dctx, peer, peer.TLS)
	if err != nil {
		return nil, false, err
	}
	return svc.newUpConn(c, key), false, nil
}

// newUpConn wraps a new HTTP/1.1 connection.
func (s *Service) newUpConn(c net.Conn, key poolKey) *upConn {
	return &upConn{c: c, raw: rawConnOf(c), r: http1.NewReader(c, s.cfg.Limits), key: key, uses: 1}
}

// connectContext bounds a connect to peer by its connect timeout.
func (s *Service) connectContext(ctx context.Context, peer *Peer) (context.Context, context.CancelFunc) {
	timeout := peer.ConnectTimeout
	if timeout == 0 {
		timeout = s.to.Connect
	}
	if timeout > 0 {
		return context.WithTimeout(ctx, timeout)
	}
	return ctx, func() {}
}

// dialPeer dials peer within dctx (ctx is the request's) and, with tlsCfg,
// does the TLS handshake; errors come classified.
func (s *Service) dialPeer(ctx, dctx context.Context, peer *Peer, tlsCfg *tls.Config) (net.Conn, error) {
	var (
		c   net.Conn
		err error
	)
	if peer.Dialer != nil {
		c, err = peer.Dialer.DialStream(dctx, peer.Addr)
	} else {
		c, err = s.dial(dctx, peer.network(), peer.Addr)
	}
	if err != nil {
		if localerr.Is(err) {
			return nil, wrapKind(ErrLocalResource, fmt.Errorf("connecting to %s: %w", peer.Addr, err))
		}
		if ctx.Err() == nil && errors.Is(dctx.Err(), context.DeadlineExceeded) {
			return nil, wrapKind(ErrConnectTimeout, fmt.Errorf("%w: %s: %w", ErrConnect, peer.Addr, err))
		}
		return nil, wrapKind(ErrConnect, fmt.Errorf("%s: %w", peer.Addr, err))
	}
	c = s.adopt(c)
	if tlsCfg != nil {
		tc, err := transport.DialTLS(dctx, c, peer.Addr, tlsCfg)
		if err != nil {
			if ctx.Err() == nil && errors.Is(dctx.Err(), context.DeadlineExceeded) {
				return nil, wrapKind(ErrConnectTimeout, fmt.Errorf("%w: %s: %w", ErrConnect, peer.Addr, err))
			}
			return nil, wrapKind(ErrUpstreamTLS, fmt.Errorf("%w: %w", ErrConnect, err))
		}
		c = tc
	}
	return c, nil
}
