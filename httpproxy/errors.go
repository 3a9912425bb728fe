package httpproxy

import (
	"errors"
	"net/http"

	"github.com/sluice-proxy/sluice/protocols/http1"
)

// Kinds of failure, matched with errors.Is. Every error the pipeline hands
// to a phase (FailToConnect, ErrorWhileProxy, FailToProxy, Logging) wraps one
// of them, so that a phase can tell a fault of the client from one of the
// upstream without parsing messages.
var (
	// ErrDownstreamProtocol: the client sent a malformed request (the
	// wrapped http1 error says which rule it broke).
	ErrDownstreamProtocol = errors.New("httpproxy: bad request from client")
	// ErrHeaderTimeout: the client did not send a whole request head within
	// Timeouts.HeaderRead.
	ErrHeaderTimeout = errors.New("httpproxy: request head timed out")
	// ErrRequestTooLarge: the request body is larger than
	// Config.MaxRequestBody (413).
	ErrRequestTooLarge = errors.New("httpproxy: request body too large")
	// ErrDownstreamClosed: the client went away (closed or reset its
	// connection) mid-request or mid-response.
	ErrDownstreamClosed = errors.New("httpproxy: client connection failed")
	// ErrDownstreamTimeout: the client stalled: it sent no byte of its
	// request body within Timeouts.BodyRead (answered 408), or took no
	// byte of the response within Timeouts.Write. Never the upstream's
	// fault.
	ErrDownstreamTimeout = errors.New("httpproxy: client timed out")
	// ErrNoPeer: UpstreamPeer returned an error or no peer.
	ErrNoPeer = errors.New("httpproxy: no upstream peer")
	// ErrConnect: connecting to the upstream failed (refused, unreachable,
	// dialer error). Nothing was sent upstream.
	ErrConnect = errors.New("httpproxy: connecting upstream failed")
	// ErrConnectTimeout: connecting to the upstream ran past
	// Peer.ConnectTimeout. It also matches ErrConnect.
	ErrConnectTimeout = errors.New("httpproxy: connecting upstream timed out")
	// ErrUpstreamTLS: the TLS handshake with the upstream failed (its
	// certificate or name did not verify, it refused ours): 502. It also
	// matches ErrConnect: nothing was sent, and FailToConnect runs.
	ErrUpstreamTLS = errors.New("httpproxy: upstream TLS handshake failed")
	// ErrUpstreamTimeout: the upstream did not answer within
	// Peer.ReadTimeout, or stalled mid-body.
	ErrUpstreamTimeout = errors.New("httpproxy: upstream timed out")
	// ErrUpstreamProtocol: the upstream sent a malformed response. The
	// connection is closed, never reused.
	ErrUpstreamProtocol = errors.New("httpproxy: bad response from upstream")
	// ErrUpstreamClosed: the upstream closed or reset the connection before
	// the response was complete.
	ErrUpstreamClosed = errors.New("httpproxy: upstream connection failed")
	// ErrLocalResource: the proxy itself ran out of descriptors, memory,
	// socket buffers or local ports while connecting upstream (EMFILE,
	// ENFILE, ENOMEM, ENOBUFS, EADDRNOTAVAIL). Nothing reached the upstream
	// and it is not to blame: FailToConnect is not called, no retry is
	// made, and the client gets 503.
	ErrLocalResource = errors.New("httpproxy: out of local resources")
	// ErrInternal: a phase returned an error of its own.
	ErrInternal = errors.New("httpproxy: proxy phase failed")
)

// retryable marks an error after which UpstreamPeer may be asked again.
type retryable struct{ err error }

func (r retryable) Error() string { return r.err.Error() }
func (r retryable) Unwrap() error { return r.err }

// Retryable marks err as safe to retry on another (or the same) peer: the
// pipeline then asks UpstreamPeer again, up to Config.MaxRetries times.
// FailToConnect returns it to allow failover. It returns nil for nil.
func Retryable(err error) error {
	if err == nil || IsRetryable(err) {
		return err
	}
	return retryable{err}
}

// IsRetryable reports whether err was marked by Retryable.
func IsRetryable(err error) bool {
	var r retryable
	return errors.As(err, &r)
}

// kindError ties a cause to one of the kinds above.
type kindError struct {
	kind  error
	cause error
}

func (e *kindError) Error() string {
	if e.cause == nil {
		return e.kind.Error()
	}
	return e.kind.Error() + ": " + e.cause.Error()
}

func (e *kindError) Unwrap() []error {
	if e.cause == nil {
		return []error{e.kind}
	}
	return []error{e.kind, e.cause}
}

// wrapKind returns err tagged with kind, unless it already carries a kind.
func wrapKind(kind, err error) error {
	var ke *kindError
	if errors.As(err, &ke) {
		return err
	}
	return &kindError{kind: kind, cause: err}
}

// StatusOf returns the status the pipeline answers err with when no response
// has been sent yet: 400, 408, 413, 414, 431, 501 or 505 for faults of the
// client, 502 for connect and upstream faults, 503 when the proxy is out of
// local resources, 504 for upstream timeouts and 500 for everything else.
func StatusOf(err error) int {
	switch {
	case err == nil:
		return http.StatusOK
	case errors.Is(err, ErrHeaderTimeout), errors.Is(err, ErrDownstreamTimeout):
		return http.StatusRequestTimeout
	case errors.Is(err, ErrRequestTooLarge):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, ErrDownstreamProtocol):
		if s := http1.StatusOf(err); s != 0 {
			return s
		}
		return http.StatusBadRequest
	case errors.Is(err, ErrLocalResource):
		return http.StatusServiceUnavailable
	case errors.Is(err, ErrConnectTimeout), errors.Is(err, ErrUpstreamTimeout):
		return http.StatusGatewayTimeout
	case errors.Is(err, ErrConnect), errors.Is(err, ErrUpstreamProtocol),
		errors.Is(err, ErrUpstreamClosed), errors.Is(err, ErrNoPeer):
		return http.StatusBadGateway
	}
	return http.StatusInternalServerError
}

// kindLabel names err's kind for metrics and logs.
func kindLabel(err error) string {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, ErrDownstreamProtocol):
		return "downstream_protocol"
	case errors.Is(err, ErrHeaderTimeout):
		return "header_timeout"
	case errors.Is(err, ErrRequestTooLarge):
		return "request_too_large"
	case errors.Is(err, ErrDownstreamClosed):
		return "downstream_closed"
	case errors.Is(err, ErrDownstreamTimeout):
		return "downstream_timeout"
	case errors.Is(err, ErrLocalResource):
		return "local_resource"
	case errors.Is(err, ErrNoPeer):
		return "no_peer"
	case errors.Is(err, ErrUpstreamTLS):
		return "upstream_tls"
	case errors.Is(err, ErrConnectTimeout):
		return "connect_timeout"
	case errors.Is(err, ErrConnect):
		return "connect"
	case errors.Is(err, ErrUpstreamTimeout):
		return "upstream_timeout"
	case errors.Is(err, ErrUpstreamProtocol):
		return "upstream_protocol"
	case errors.Is(err, ErrUpstreamClosed):
		return "upstream_closed"
	}
	return "internal"
}

// clientFault reports whether err is the client's doing: a malformed or
// oversized request, or a client that went away or stalled.
func clientFault(err error) bool {
	return errors.Is(err, ErrDownstreamProtocol) || errors.Is(err, ErrDownstreamClosed) ||
		errors.Is(err, ErrDownstreamTimeout) || errors.Is(err, ErrRequestTooLarge) ||
		errors.Is(err, ErrHeaderTimeout)
}
