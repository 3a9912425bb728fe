package main

import (
	"bytes"
	"context"
	"math/rand/v2"
	"net/http"
	"slices"
	"sync/atomic"

	"github.com/sluice-proxy/sluice/httpproxy"
	"github.com/sluice-proxy/sluice/protocols/http1"
)

// httpRouter is the httpproxy.Proxy of an http: service: it matches each
// request to a route, picks a backend from the route's balancer through an
// httpproxy.Balanced (which holds the backend for the request, reports
// failures and fails over to another when a connect fails), and sets the
// configured request headers. Everything it hands out per request is
// built once: a Peer per backend, the header list per route.
type httpRouter struct {
	// hosts holds the routes naming a host, by host; anyHost those for any
	// host. Both are sorted longest path prefix first.
	hosts   map[string][]*httpRoute
	anyHost []*httpRoute
	// fallback takes the requests no route matches: the service's own
	// upstreams, or nil (404).
	fallback *httpRoute
	notFound []byte
}

// httpRoute is a route ready to serve: where its requests go and what is
// set on them.
type httpRoute struct {
	name    string // the metric label; "" for the service's own upstreams
	host    string
	prefix  string
	up      *httpproxy.Balanced
	headers []HeaderField
	mirror  *mirrorTarget // nil: no copies
}

// mirrorTarget is where a route's mirror copies go: its upstreams in turn,
// for a share of the requests.
type mirrorTarget struct {
	peers   []*httpproxy.Peer
	percent float64
	next    atomic.Uint64
}

// pick returns the peer for this request's copy, or nil when the request
// is not among the share mirrored.
func (m *mirrorTarget) pick() *httpproxy.Peer {
	if m.percent < 100 && rand.Float64()*100 >= m.percent {
		return nil
	}
	return m.peers[m.next.Add(1)%uint64(len(m.peers))]
}

var (
	_ httpproxy.Proxy                 = (*httpRouter)(nil)
	_ httpproxy.RequestFilter         = (*httpRouter)(nil)
	_ httpproxy.UpstreamRequestFilter = (*httpRouter)(nil)
)

// newHTTPRouter indexes routes; fallback may be nil.
func newHTTPRouter(routes []*httpRoute, fallback *httpRoute) *httpRouter {
	r := &httpRouter{
		hosts:    make(map[string][]*httpRoute),
		fallback: fallback,
		notFound: []byte("404 Not Found: no route for this host and path\n"),
	}
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

// RequestFilter routes the request (Session.Ctx holds its route), and
// answers 404 itself when nothing matches and the service has no
// upstreams of its own.
func (r *httpRouter) RequestFilter(ctx context.Context, s *httpproxy.Session) (bool, error) {
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
	s.Ctx = rt
	s.Route = rt.name
	return false, nil
}

// UpstreamPeer picks a backend of the route's balancer, never one that
// already failed to connect for this request.
func (r *httpRouter) UpstreamPeer(ctx context.Context, s *httpproxy.Session) (*httpproxy.Peer, error) {
	rt := s.Ctx.(*httpRoute)
	if rt.mirror != nil {
		if p := rt.mirror.pick(); p != nil {
			s.Mirror(p)
		}
	}
	return rt.up.Pick(s)
}

// UpstreamRequestFilter sets the route's request headers (the service's
// and the route's own).
func (r *httpRouter) UpstreamRequestFilter(ctx context.Context, s *httpproxy.Session, req *http1.Request) error {
	rt := s.Ctx.(*httpRoute)
	for i := range rt.headers {
		f := &rt.headers[i]
		req.Header.Set(f.Name, f.Value)
	}
	return nil
}
