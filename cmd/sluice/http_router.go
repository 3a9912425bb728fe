package main

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"slices"
	"sync"

	"github.com/sluice-proxy/sluice/httpproxy"
	"github.com/sluice-proxy/sluice/lb"
	"github.com/sluice-proxy/sluice/protocols/http1"
)

// httpRouter is the httpproxy.Proxy of an http: service: it matches each
// request to a route, picks a backend from the route's balancer (failing
// over to another when a connect fails), and sets the configured request
// headers. Everything it hands out per request is built once: a Peer per
// backend, the header list per route, and the per-request state, which is
// pooled.
type httpRouter struct {
	// hosts holds the routes naming a host, by host; anyHost those for any
	// host. Both are sorted longest path prefix first.
	hosts   map[string][]*httpRoute
	anyHost []*httpRoute
	// fallback takes the requests no route matches: the service's own
	// upstreams, or nil (404).
	fallback *httpRoute
	notFound []byte
	ctxs     sync.Pool // *httpRequestCtx
}

// httpRoute is a route ready to serve: where its requests go and what is
// set on them.
type httpRoute struct {
	name    string // the metric label; "" for the service's own upstreams
	host    string
	prefix  string
	up      *httpUpstreams
	headers []HeaderField
}

// httpUpstreams is one balancer with a long-lived Peer per backend.
type httpUpstreams struct {
	bal   *lb.Balancer
	peers map[*lb.Backend]*httpproxy.Peer
	hash  bool // the policy wants a key: the client IP
}

// httpRequestCtx is one request's routing state (Session.Ctx), pooled.
type httpRequestCtx struct {
	route   *httpRoute
	backend *lb.Backend   // picked for the current try, Acquired
	tried   []*lb.Backend // failed to connect: not picked again
	key     []byte        // hash key buffer
}

var (
	_ httpproxy.Proxy                 = (*httpRouter)(nil)
	_ httpproxy.NewCtx                = (*httpRouter)(nil)
	_ httpproxy.RequestFilter         = (*httpRouter)(nil)
	_ httpproxy.FailToConnect         = (*httpRouter)(nil)
	_ httpproxy.UpstreamRequestFilter = (*httpRouter)(nil)
	_ httpproxy.Logging               = (*httpRouter)(nil)
)

// newHTTPRouter indexes routes; fallback may be nil.
func newHTTPRouter(routes []*httpRoute, fallback *httpRoute) *httpRouter {
	r := &httpRouter{
		hosts:    make(map[string][]*httpRoute),
		fallback: fallback,
		notFound: []byte("404 Not Found: no route for this host and path\n"),
	}
	r.ctxs.New = func() any { return &httpRequestCtx{tried: make([]*lb.Backend, 0, 4)} }
	for _, rt := range routes {
		if rt.host == "" {
			r.anyHost = append(r.anyHost, rt)
		} else {
			r.hosts[rt.host] = append(r.hosts[rt.host], rt)
		}
	}
	longestFirst := func(a, b *httpRoute) int { return len(b.prefix) - len(a.prefix) }
	slices.SortStableFunc(r.anyHost, longestFirst)
	for _, rs := range r.hosts {
		slices.SortStableFunc(rs, longestFirst)
	}
	return r
}

// match returns the route for a request's host (as in the Host field) and
// target: among the routes naming that host (case-insensitive, port
// ignored) the one with the longest matching path prefix; failing that,
// among the routes for any host; failing that, the fallback (nil when the
// service has no upstreams of its own).
func (r *httpRouter) match(host, target []byte) *httpRoute {
	path := pathOf(target)
	if len(r.hosts) > 0 {
		h := hostOnly(host)
		var buf [256]byte
		if len(h) <= len(buf) {
			for i, c := range h {
				if 'A' <= c && c <= 'Z' {
					c += 'a' - 'A'
				}
				buf[i] = c
			}
			if rt := longestPrefix(r.hosts[string(buf[:len(h)])], path); rt != nil {
				return rt
			}
		}
	}
	if rt := longestPrefix(r.anyHost, path); rt != nil {
		return rt
	}
	return r.fallback
}

// longestPrefix returns the first route of rs (sorted longest prefix
// first) whose prefix starts path.
func longestPrefix(rs []*httpRoute, path []byte) *httpRoute {
	for _, rt := range rs {
		if hasPathPrefix(path, rt.prefix) {
			return rt
		}
	}
	return nil
}

func hasPathPrefix(path []byte, prefix string) bool {
	if len(path) == 0 { // an absolute-form target without a path means "/"
		return prefix == "" || prefix == "/"
	}
	return len(path) >= len(prefix) && string(path[:len(prefix)]) == prefix
}

// pathOf returns the path (and query) of a request target: the target
// itself in origin form, what follows the authority in absolute form
// (empty when nothing does), and the target as is otherwise ("*").
func pathOf(target []byte) []byte {
	if len(target) > 0 && target[0] == '/' {
		return target
	}
	if i := bytes.Index(target, []byte("://")); i >= 0 {
		rest := target[i+3:]
		if j := bytes.IndexAny(rest, "/?"); j >= 0 {
			return rest[j:]
		}
		return rest[len(rest):]
	}
	return target
}

// hostOnly strips the port, the IPv6 brackets and a trailing dot from a
// Host value.
func hostOnly(h []byte) []byte {
	if len(h) > 0 && h[0] == '[' {
		if i := bytes.IndexByte(h, ']'); i > 0 {
			return h[1:i]
		}
		return h
	}
	if i := bytes.LastIndexByte(h, ':'); i >= 0 && bytes.IndexByte(h, ':') == i {
		h = h[:i]
	}
	return bytes.TrimSuffix(h, []byte("."))
}

// NewCtx returns a pooled per-request state; Logging gives it back.
func (r *httpRouter) NewCtx() any { return r.ctxs.Get() }

// RequestFilter routes the request, and answers 404 itself when nothing
// matches and the service has no upstreams of its own.
func (r *httpRouter) RequestFilter(ctx context.Context, s *httpproxy.Session) (bool, error) {
	rc := s.Ctx.(*httpRequestCtx)
	host := s.Request.Host
	if len(host) == 0 {
		host = s.Request.Header.Get("Host")
	}
	rt := r.match(host, s.Request.Target)
	if rt == nil {
		// A failed write means the client is gone; there is nobody left
		// to tell, and Logging still sees the request.
		s.Respond(http.StatusNotFound, "text/plain; charset=utf-8", r.notFound)
		return true, nil
	}
	rc.route = rt
	s.Route = rt.name
	return false, nil
}

// UpstreamPeer picks a backend of the route's balancer, never one that
// already failed to connect for this request.
func (r *httpRouter) UpstreamPeer(ctx context.Context, s *httpproxy.Session) (*httpproxy.Peer, error) {
	rc := s.Ctx.(*httpRequestCtx)
	up := rc.route.up
	if rc.backend != nil { // a retry on a connection that failed after connect
		rc.backend.Release()
		rc.backend = nil
	}
	var key []byte
	if up.hash {
		rc.key = lb.AppendClientKey(rc.key[:0], s.ClientAddr())
		key = rc.key
	}
	be, err := up.bal.Pick(key, rc.tried)
	if err != nil {
		if s.LastError != nil {
			// Every backend left has failed: the last failure says more
			// than "no backend".
			return nil, s.LastError
		}
		return nil, err
	}
	be.Acquire()
	rc.backend = be
	return up.peers[be], nil
}

// FailToConnect reports the backend's failure to its balancer (passive
// health) and fails over: the backend is excluded from this request's
// next picks.
func (r *httpRouter) FailToConnect(ctx context.Context, s *httpproxy.Session, peer *httpproxy.Peer, err error) error {
	rc := s.Ctx.(*httpRequestCtx)
	if be := rc.backend; be != nil {
		rc.route.up.bal.ReportFailure(be)
		be.Release()
		rc.backend = nil
		rc.tried = append(rc.tried, be)
	}
	return httpproxy.Retryable(err)
}

// UpstreamRequestFilter sets the route's request headers (the service's
// and the route's own).
func (r *httpRouter) UpstreamRequestFilter(ctx context.Context, s *httpproxy.Session, req *http1.Request) error {
	rc := s.Ctx.(*httpRequestCtx)
	for i := range rc.route.headers {
		f := &rc.route.headers[i]
		req.Header.Set(f.Name, f.Value)
	}
	return nil
}

// Logging reports the request's outcome to the backend's balancer: an
// answer (of any status) is a success, an upstream that timed out, closed
// or sent garbage is a failure; connect failures were reported already.
// Then it releases the backend and pools the request state.
func (r *httpRouter) Logging(ctx context.Context, s *httpproxy.Session, err error) {
	rc, _ := s.Ctx.(*httpRequestCtx)
	if rc == nil {
		return // the request failed before it was routed
	}
	if be := rc.backend; be != nil {
		bal := rc.route.up.bal
		switch {
		case err == nil:
			bal.ReportSuccess(be)
		case errors.Is(err, httpproxy.ErrUpstreamTimeout), errors.Is(err, httpproxy.ErrUpstreamClosed),
			errors.Is(err, httpproxy.ErrUpstreamProtocol):
			bal.ReportFailure(be)
		}
		be.Release()
	}
	clear(rc.tried)
	*rc = httpRequestCtx{tried: rc.tried[:0], key: rc.key[:0]}
	r.ctxs.Put(rc)
}
