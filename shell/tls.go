package shell

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"time"

	"github.com/sluice-proxy/sluice/connfilter"
	"github.com/sluice-proxy/sluice/protocols/tlshello"
	"github.com/sluice-proxy/sluice/transport"
	"github.com/sluice-proxy/sluice/vstream"
)

// DefaultHandshakeTimeout bounds the ClientHello and the handshake when
// TLS.HandshakeTimeout is 0.
const DefaultHandshakeTimeout = 10 * time.Second

// TLS terminates TLS on a Shell's connections. After the PROXY header (if
// any) the shell reads the ClientHello without consuming it, asks the
// filters at connfilter.StageHello (server name, ALPN, JA4), then runs the
// handshake; the connection the Handler gets is the *tls.Conn, and its
// Digest carries the state (Digest.TLS, TLSInfo, HandshakeTime) and what
// OnHandshake returned.
type TLS struct {
	// Server holds the certificates (chosen by SNI), client
	// authentication, ALPN and versions; required.
	Server *transport.TLSServer
	// HandshakeTimeout bounds reading the ClientHello and the whole
	// handshake: 0 means DefaultHandshakeTimeout.
	HandshakeTimeout time.Duration
	// OnHandshake, when set, is called once the handshake completes, with
	// the connection state and the Digest; what it returns becomes the
	// Digest's user extension (vstream.Extension reads it back). An error
	// closes the connection, counted with reason "tls_hook". This is
	// Pingora's handshake_complete_callback.
	OnHandshake func(ctx context.Context, cs *tls.ConnectionState, d *vstream.Digest) (any, error)
	// Metrics receives handshake results and latency; nil for none.
	Metrics *Metrics
}

// tlsError is a failed termination with the reason to count it under.
type tlsError struct {
	reason string
	err    error
}

func (e *tlsError) Error() string { return "shell: tls: " + e.reason + ": " + e.err.Error() }
func (e *tlsError) Unwrap() error { return e.err }

// terminate runs the TLS stage on c. On success it returns the TLS
// connection and the hello filters' release (nil when none).
func (s *Shell) terminate(ctx context.Context, c net.Conn, d *vstream.Digest) (*tls.Conn, func(), error) {
	t := s.cfg.TLS
	start := time.Now()
	timeout := t.HandshakeTimeout
	if timeout <= 0 {
		timeout = DefaultHandshakeTimeout
	}
	deadline := start.Add(timeout)
	c.SetDeadline(deadline)
	hctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	hello, raw, err := tlshello.Read(c, 0)
	if err != nil {
		return nil, nil, &tlsError{helloReason(err, len(raw)), err}
	}
	ja4 := hello.JA4()
	var release func()
	if s.cfg.Filter != nil {
		in := &connfilter.Info{
			Listener: s.cfg.Name,
			Local:    vstream.AddrPort(d.LocalAddr),
			Peer:     vstream.AddrPort(d.RemoteAddr),
			Client:   d.Client(),
			Stage:    connfilter.StageHello,
			Hello:    &connfilter.Hello{ServerName: hello.ServerName, ALPN: hello.ALPN, JA4: ja4},
		}
		if release, err = s.cfg.Filter.Check(hctx, in); err != nil {
			return nil, nil, &tlsError{connfilter.Reason(err), err}
		}
	}
	fail := func(reason string, err error) (*tls.Conn, func(), error) {
		if release != nil {
			release()
		}
		return nil, nil, &tlsError{reason, err}
	}
	tc := tls.Server(vstream.WithPrefix(c, raw), t.Server.Config())
	if err := tc.HandshakeContext(hctx); err != nil {
		return fail(handshakeReason(err, hello.ServerName, t.Server), err)
	}
	c.SetDeadline(time.Time{})
	cs := tc.ConnectionState()
	d.TLS = &cs
	d.HandshakeTime = time.Now()
	info := vstream.NewTLSInfo(&cs)
	info.HandshakeDuration, info.JA4 = d.HandshakeTime.Sub(start), ja4
	d.TLSInfo = info
	if t.OnHandshake != nil {
		v, err := t.OnHandshake(ctx, &cs, d)
		if err != nil {
			return fail("tls_hook", err)
		}
		vstream.SetExtension(d, v)
	}
	if t.Metrics != nil {
		t.Metrics.handshake(s.cfg.Name, "ok", info)
	}
	return tc, release, nil
}

// helloReason names a failure to read the ClientHello.
func helloReason(err error, read int) string {
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded):
		return "tls_timeout"
	case errors.Is(err, tlshello.ErrNotTLS):
		return "tls_not_tls"
	case errors.Is(err, tlshello.ErrTooLarge):
		return "tls_hello_too_large"
	case read == 0 && (errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)):
		return "tls_closed"
	}
	return "tls_hello_invalid"
}

// handshakeReason names a failed handshake.
func handshakeReason(err error, sni string, srv *transport.TLSServer) string {
	var ve *tls.CertificateVerificationError
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded), errors.Is(err, context.DeadlineExceeded):
		return "tls_timeout"
	case srv.Strict() && !srv.Knows(sni):
		return "tls_unknown_sni"
	case errors.As(err, &ve), strings.Contains(err.Error(), "client didn't provide a certificate"),
		strings.Contains(err.Error(), "certificate"):
		return "tls_client_cert"
	}
	return "tls_handshake"
}
