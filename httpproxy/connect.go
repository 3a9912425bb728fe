package httpproxy

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"github.com/sluice-proxy/sluice/internal/localerr"
	"github.com/sluice-proxy/sluice/splice"
	"github.com/sluice-proxy/sluice/vstream"
)

// ConnectMode is what a Service does with an allowed CONNECT.
type ConnectMode uint8

// CONNECT modes.
const (
	// ConnectTunnel relays bytes between the client and the target (a
	// forward proxy), spliced where both are sockets.
	ConnectTunnel ConnectMode = iota
	// ConnectPipeline serves the tunnel's inside as a new downstream
	// connection of the same Service: HTTP/1.1, or h2c by its preface when
	// Config.H2C is set. Its requests take the same routes and phases, and
	// carry the outer connection's Digest (client address, TLS identity).
	ConnectPipeline
)

// ParseConnectMode parses "tunnel" (or "") and "pipeline".
func ParseConnectMode(s string) (ConnectMode, error) {
	switch s {
	case "", "tunnel":
		return ConnectTunnel, nil
	case "pipeline":
		return ConnectPipeline, nil
	}
	return 0, fmt.Errorf("httpproxy: unknown CONNECT mode %q (want tunnel or pipeline)", s)
}

// ConnectConfig turns CONNECT on (RFC 9110 9.3.6, and RFC 9113 8.5 over
// HTTP/2). Without it a CONNECT is answered 405.
type ConnectConfig struct {
	// Allow lists the targets a CONNECT may name: "host:port", with "*."
	// before a domain for any name under it and "*" for any port
	// ("*.internal:443", "db.example:*"). Anything else gets 403.
	Allow []string
	// Mode is ConnectTunnel (the default) or ConnectPipeline.
	Mode ConnectMode
	// TLS, in pipeline mode, terminates TLS inside a tunnel that starts
	// with a TLS handshake; nil means the Service's own certificates (and
	// none on a cleartext Service: the tunnel is then served as it comes).
	TLS *tls.Config
}

// connectAllowed reports whether target (host:port, as the request named
// it) matches one of allow.
func connectAllowed(allow []string, target string) bool {
	host, port, err := net.SplitHostPort(target)
	if err != nil {
		return false
	}
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	for _, a := range allow {
		ah, ap, err := net.SplitHostPort(a)
		if err != nil || (ap != "*" && ap != port) {
			continue
		}
		ah = strings.ToLower(ah)
		if ah == host || (strings.HasPrefix(ah, "*.") && strings.HasSuffix(host, ah[1:]) && len(host) > len(ah)-1) {
			return true
		}
	}
	return false
}

// errConnectDenied is a CONNECT to a target Config.Connect does not allow.
var errConnectDenied = errors.New("httpproxy: CONNECT target not allowed")

// connect answers a CONNECT: 405 when the Service takes none, 403 outside
// the allow list, else a tunnel to the target or, in pipeline mode, the
// tunnel's inside served as a new connection. The client connection ends
// with it.
func (hc *h1conn) serveConnect(ctx context.Context, s *Session) error {
	cc := hc.svc.cfg.Connect
	if cc == nil {
		return s.Respond(405, "text/plain; charset=utf-8", []byte("405 Method Not Allowed: "+errConnect.Error()+"\n"))
	}
	target := string(hc.req.Target)
	if !connectAllowed(cc.Allow, target) {
		s.LastError = fmt.Errorf("%w: %s", errConnectDenied, target)
		return s.Respond(403, "text/plain; charset=utf-8", []byte("403 Forbidden: CONNECT to "+target+" is not allowed\n"))
	}
	s.closeConn = true
	if cc.Mode == ConnectPipeline {
		if err := hc.established(s); err != nil {
			return err
		}
		var inner net.Conn = vstream.WithPrefix(hc.c, hc.r.Detach())
		tcfg := cc.TLS
		if t := hc.svc.cfg.TLS; tcfg == nil && t != nil {
			tcfg = t.Server.Config()
		}
		if tcfg != nil {
			tc, err := innerTLS(ctx, inner, tcfg, hc.svc.to.HeaderRead)
			if err != nil {
				hc.svc.log.Info("CONNECT pipeline: TLS inside the tunnel failed", "service", hc.svc.cfg.Name, "error", err)
				return nil // the tunnel was answered 200: the failure is the inner connection's
			}
			inner = tc
		}
		hc.svc.serveAccepted(ctx, inner, s.Digest)
		return nil
	}
	return hc.tunnelTo(ctx, s, target)
}

// innerTLS terminates TLS inside a pipeline tunnel when it starts with a
// TLS handshake record (0x16), with the service's certificates; anything
// else is returned as it is.
func innerTLS(ctx context.Context, c net.Conn, cfg *tls.Config, timeout time.Duration) (net.Conn, error) {
	var first [1]byte
	if timeout > 0 {
		c.SetReadDeadline(time.Now().Add(timeout))
	}
	if _, err := io.ReadFull(c, first[:]); err != nil {
		return nil, err
	}
	c.SetReadDeadline(time.Time{})
	c = vstream.WithPrefix(c, first[:])
	if first[0] != 0x16 {
		return c, nil
	}
	tc := tls.Server(c, cfg)
	hctx := ctx
	if timeout > 0 {
		var cancel context.CancelFunc
		hctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	if err := tc.HandshakeContext(hctx); err != nil {
		return nil, err
	}
	return tc, nil
}

// established sends the 2xx that opens the tunnel (no Content-Length: RFC
// 9110 9.3.6 forbids one).
func (hc *h1conn) established(s *Session) error {
	hc.wbuf = append(hc.wbuf[:0], "HTTP/1.1 200 Connection Established\r\n\r\n"...)
	s.Status, s.headSent, s.answered = 200, true, true
	hc.clock = time.Now()
	return hc.flush()
}

// tunnelTo dials target and relays both ways until both sides are done.
func (hc *h1conn) tunnelTo(ctx context.Context, s *Session, target string) error {
	svc := hc.svc
	s.Peer = &Peer{Addr: target}
	s.Tries = 1
	dctx, cancel := svc.connectContext(ctx, s.Peer)
	up, err := svc.dial(dctx, "tcp", target)
	cancel()
	if err != nil {
		if localerr.Is(err) {
			return wrapKind(ErrLocalResource, fmt.Errorf("connecting to %s: %w", target, err))
		}
		return wrapKind(ErrConnect, fmt.Errorf("%s: %w", target, err))
	}
	up = svc.adopt(up)
	s.Connected = hc.tick()
	if err := hc.established(s); err != nil {
		up.Close()
		return err
	}
	if early := hc.r.Detach(); len(early) > 0 {
		if _, err := up.Write(early); err != nil {
			up.Close()
			return upstreamErr(err)
		}
		s.RequestBodyBytes += int64(len(early))
	}
	hc.in.rd.clear(hc.c.SetReadDeadline)
	hc.wd.clear(hc.c.SetWriteDeadline)
	st, _ := splice.Join(ctx, hc.c, up, splice.JoinOptions{IdleTimeout: svc.to.Idle})
	s.RequestBodyBytes += st.AToB
	s.ResponseBodyBytes += st.BToA
	return nil
}
