package httpproxy

import (
	"context"

	"github.com/sluice-proxy/sluice/protocols/http1"
)

// Proxy is the one interface a user must implement: it picks the upstream
// for each request. Everything else is optional: a Proxy may also implement
// any of the phase interfaces below, which the Service discovers once, when
// it is built, and calls in Pingora's order:
//
//	NewCtx → EarlyRequestFilter → RequestFilter → [UpstreamPeer → connect →
//	(FailToConnect) → ConnectedToUpstream] → UpstreamRequestFilter →
//	RequestBodyFilter → UpstreamResponseFilter → ResponseFilter →
//	ResponseBodyFilter → (ErrorWhileProxy) → (FailToProxy) → Logging
//
// Phases of one request never run at the same time. They run on one
// goroutine, one after the other, except RequestBodyFilter, which runs on
// the goroutine that streams the request body upstream: while the response
// head is awaited, and on when the upstream answers before the body has gone.
// Then it takes turns with UpstreamResponseFilter, ResponseFilter and
// ResponseBodyFilter (as in Pingora, where both directions are driven by one
// task), so the request's state (Session.Ctx, Session.RequestBodyBytes) needs
// no lock of the Proxy's. Phases of different requests run concurrently: a
// Proxy must be safe for concurrent use.
type Proxy interface {
	// UpstreamPeer returns where the request goes. It is asked again after
	// a failure marked retryable (see FailToConnect), so it can fail over:
	// Session.Tries and Session.LastError say what happened before.
	UpstreamPeer(ctx context.Context, s *Session) (*Peer, error)
}

// NewCtx makes the per-request value a Proxy owns, found in Session.Ctx by
// every later phase. Without it Session.Ctx is nil.
type NewCtx interface {
	NewCtx() any
}

// EarlyRequestFilter runs first, as soon as the request head is read. An
// error ends the request (FailToProxy answers it).
type EarlyRequestFilter interface {
	EarlyRequestFilter(ctx context.Context, s *Session) error
}

// RequestFilter validates, rejects or answers a request. When it returns
// handled, the request goes no further (straight to Logging): the filter
// must have answered it with Session.Respond or Session.WriteResponse, and
// a handled request left unanswered gets 500.
type RequestFilter interface {
	RequestFilter(ctx context.Context, s *Session) (handled bool, err error)
}

// FailToConnect runs when connecting to peer failed (nothing was sent
// upstream). The error it returns replaces err; wrap it with Retryable to
// have UpstreamPeer asked again. Without this phase, connect errors are
// retryable. A connect that failed for lack of the proxy's own resources
// (ErrLocalResource) is no failure of the peer: it does not run this
// phase and is not retried.
type FailToConnect interface {
	FailToConnect(ctx context.Context, s *Session, peer *Peer, err error) error
}

// ConnectedToUpstream runs once a connection to peer is ready, new or
// reused from the pool.
type ConnectedToUpstream interface {
	ConnectedToUpstream(ctx context.Context, s *Session, peer *Peer, reused bool) error
}

// UpstreamRequestFilter edits the request head sent upstream: a copy of
// the client's, with hop-by-hop fields already removed. It may send a HEAD
// request upstream as GET (the client then gets the head only, the body is
// dropped), but not turn another method into HEAD: the client would wait
// for a body that never comes, so that request fails with 500.
type UpstreamRequestFilter interface {
	UpstreamRequestFilter(ctx context.Context, s *Session, req *http1.Request) error
}

// RequestBodyFilter sees each piece of the request body on its way
// upstream and returns what to send instead (chunk itself, a changed
// slice, or nil to send nothing). end is true once, with the last piece
// (which may be empty). With this phase a request body goes upstream
// chunked, since its length may change.
type RequestBodyFilter interface {
	RequestBodyFilter(ctx context.Context, s *Session, chunk []byte, end bool) ([]byte, error)
}

// UpstreamResponseFilter edits the response head as the upstream sent it
// (final heads only: 1xx heads are relayed as they come, less
// hop-by-hop fields), before hop-by-hop fields are removed.
type UpstreamResponseFilter interface {
	UpstreamResponseFilter(ctx context.Context, s *Session, resp *http1.Response) error
}

// ResponseFilter edits the response head on its way to the client, after
// hop-by-hop fields are removed. It also runs for responses the pipeline
// makes itself (errors) and those sent with Session.Respond.
type ResponseFilter interface {
	ResponseFilter(ctx context.Context, s *Session, resp *http1.Response) error
}

// ResponseBodyFilter sees each piece of the response body on its way to the
// client and returns what to send instead, like RequestBodyFilter. A filter
// that changes the body's length must delete Content-Length in
// ResponseFilter, so the body goes chunked.
type ResponseBodyFilter interface {
	ResponseBodyFilter(ctx context.Context, s *Session, chunk []byte, end bool) ([]byte, error)
}

// ErrorWhileProxy runs when the exchange with a connected upstream fails.
// The error it returns replaces err; a Retryable one is retried only when
// nothing of the request body has been sent yet and nothing of the
// response has reached the client.
type ErrorWhileProxy interface {
	ErrorWhileProxy(ctx context.Context, s *Session, peer *Peer, err error) error
}

// FailToProxy runs when a request fails for good. It may answer the client
// itself with Session.Respond; otherwise the pipeline answers with the
// status it returns (0 means StatusOf(err)), when no response head has been
// sent yet.
type FailToProxy interface {
	FailToProxy(ctx context.Context, s *Session, err error) int
}

// Logging runs last for every request, answered or failed: err is the
// failure, or nil. The Session holds the status, byte counts and timings.
type Logging interface {
	Logging(ctx context.Context, s *Session, err error)
}

// phases holds the optional interfaces of a Proxy, found once.
type phases struct {
	peer       Proxy
	newCtx     NewCtx
	early      EarlyRequestFilter
	request    RequestFilter
	failConn   FailToConnect
	connected  ConnectedToUpstream
	upRequest  UpstreamRequestFilter
	reqBody    RequestBodyFilter
	upResponse UpstreamResponseFilter
	response   ResponseFilter
	respBody   ResponseBodyFilter
	whileProxy ErrorWhileProxy
	failProxy  FailToProxy
	logging    Logging
}

func discover(p Proxy) phases {
	ph := phases{peer: p}
	ph.newCtx, _ = p.(NewCtx)
	ph.early, _ = p.(EarlyRequestFilter)
	ph.request, _ = p.(RequestFilter)
	ph.failConn, _ = p.(FailToConnect)
	ph.connected, _ = p.(ConnectedToUpstream)
	ph.upRequest, _ = p.(UpstreamRequestFilter)
	ph.reqBody, _ = p.(RequestBodyFilter)
	ph.upResponse, _ = p.(UpstreamResponseFilter)
	ph.response, _ = p.(ResponseFilter)
	ph.respBody, _ = p.(ResponseBodyFilter)
	ph.whileProxy, _ = p.(ErrorWhileProxy)
	ph.failProxy, _ = p.(FailToProxy)
	ph.logging, _ = p.(Logging)
	return ph
}
