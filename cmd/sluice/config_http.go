package main

import (
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sluice-proxy/sluice/httpproxy"
	"github.com/sluice-proxy/sluice/lb"
	"github.com/sluice-proxy/sluice/protocols/http2"
)

// httpSection is one http: entry as written.
type httpSection struct {
	Name              string              `yaml:"name"`
	Listen            []string            `yaml:"listen"`
	Upstreams         []upstreamSection   `yaml:"upstreams"`
	Balance           string              `yaml:"balance"`
	Routes            []httpRouteSection  `yaml:"routes"`
	SetRequestHeaders map[string]string   `yaml:"set_request_headers"`
	Timeouts          httpTimeoutsSection `yaml:"timeouts"`
	MaxRetries        *int                `yaml:"max_retries"`
	XForwardedFor     bool                `yaml:"x_forwarded_for"`
	Forwarded         bool                `yaml:"forwarded"`
	AccessLog         *bool               `yaml:"access_log"`
	Filter            filterSection       `yaml:"filter"`
	Health            *healthSection      `yaml:"health"`
	Socket            socketSection       `yaml:"socket"`
	TLS               *tlsSection         `yaml:"tls"`
	H2C               bool                `yaml:"h2c"`
	H2COnly           bool                `yaml:"h2c_only"`
	H2                h2Section           `yaml:"h2"`
	Connect           *connectSection     `yaml:"connect"`
	Poller            string              `yaml:"poller"`
	Protocol          string              `yaml:"protocol"`
	Vmux              *vmuxSection        `yaml:"vmux"`
	HTTP3             *http3Section       `yaml:"http3"`
}

type http3Section struct {
	Listen     []string `yaml:"listen"`
	AltSvc     *bool    `yaml:"alt_svc"`
	RetryAbove *int     `yaml:"retry_above"`
	ZeroRTT    bool     `yaml:"zero_rtt"`
}

type connectSection struct {
	Allow []string    `yaml:"allow"`
	Mode  string      `yaml:"mode"`
	TLS   *tlsSection `yaml:"tls"`
}

type httpRouteSection struct {
	Name              string            `yaml:"name"`
	Host              string            `yaml:"host"`
	PathPrefix        string            `yaml:"path_prefix"`
	Upstreams         []upstreamSection `yaml:"upstreams"`
	Balance           string            `yaml:"balance"`
	SetRequestHeaders map[string]string `yaml:"set_request_headers"`
	Mirror            *mirrorSection    `yaml:"mirror"`
}

type mirrorSection struct {
	Upstreams []upstreamSection `yaml:"upstreams"`
	Percent   *float64          `yaml:"percent"`
}

type httpTimeoutsSection struct {
	Connect       string `yaml:"connect"`
	HeaderRead    string `yaml:"header_read"`
	Idle          string `yaml:"idle"`
	BodyRead      string `yaml:"body_read"`
	Write         string `yaml:"write"`
	UpstreamRead  string `yaml:"upstream_read"`
	UpstreamWrite string `yaml:"upstream_write"`
}

// HTTPConfig is one HTTP proxy service.
type HTTPConfig struct {
	// TLS terminates TLS on the listeners (HTTPS); nil for none.
	TLS *TLSConfig
	// H2C serves HTTP/2 with prior knowledge on cleartext listeners; H2
	// bounds every HTTP/2 connection.
	H2C     bool
	H2COnly bool // h2c_only: cleartext connections must be HTTP/2
	H2      http2.Limits
	// Connect takes CONNECT requests; nil answers them 405. ConnectTLS
	// terminates TLS inside pipeline tunnels (connect.tls).
	Connect    *httpproxy.ConnectConfig
	ConnectTLS *TLSConfig
	// Protocol is "http"; "vmux": each stream of a vmux session on the
	// listeners is an HTTP connection (Vmux bounds the sessions); or
	// "quic": the listen addresses are UDP, and each stream of a QUIC
	// connection (TLS's certificates and ALPN) is an HTTP connection.
	Protocol string
	Vmux     VmuxLimits
	// HTTP3 are the UDP addresses HTTP/3 is served on (with TLS's
	// certificates); AltSvc advertises the first on every response.
	HTTP3  []string
	AltSvc bool
	// RetryAbove is http3.retry_above: new QUIC connections per second
	// per source before Retry (0: Retry always). ZeroRTT accepts early
	// data for safe methods (http3.zero_rtt).
	RetryAbove int
	ZeroRTT    bool
	Name       string
	Listen     []Addr
	// Upstreams take the requests no route matches; empty when every
	// request must match a route (others get 404).
	Upstreams []Upstream
	Balance   string
	// Routes in the order written; matching is by host, then the longest
	// path prefix (see httpRouter).
	Routes []*HTTPRoute
	// SetRequestHeaders are set on every request sent upstream.
	SetRequestHeaders []HeaderField
	Timeouts          httpproxy.Timeouts
	// MaxRetries is httpproxy.Config.MaxRetries: -1 for none.
	MaxRetries    int
	XForwardedFor bool
	Forwarded     bool
	AccessLog     bool
	Health        *HealthConfig
	// Poller is how the service's sockets wait: "own" (the default: an
	// fdpoll.Poller shared by the process, where the platform has one) or
	// "go" (Go's netpoller).
	Poller string
	FilterConfig
	SocketConfig
}

// HTTPRoute sends the requests for a host and/or path prefix to upstreams
// of their own (or the service's), with headers of their own.
type HTTPRoute struct {
	// Name labels the route's metrics; by default Host+PathPrefix.
	Name string
	// Host is lower case, without a port or brackets; "" matches any host.
	Host string
	// PathPrefix matches the start of the request path, byte for byte; ""
	// matches any path.
	PathPrefix string
	// Upstreams are the route's own; empty means the service's.
	Upstreams []Upstream
	Balance   string
	// SetRequestHeaders are set after the service's, so a route's value
	// wins over the service's for the same field.
	SetRequestHeaders []HeaderField
	// Mirror sends a copy of MirrorPercent of the route's requests to the
	// mirror upstreams (in turn), in the background; nil for none.
	Mirror        []Upstream
	MirrorPercent float64
}

// HeaderField is a request header field to set.
type HeaderField struct{ Name, Value string }

// managedHeaders are fields set_request_headers may not touch: they frame
// the message or describe the connection, and the proxy owns them.
var managedHeaders = []string{
	"content-length", "transfer-encoding", "connection", "keep-alive", "proxy-connection", "te", "trailer", "upgrade",
}

// poller checks a poller: value; "" gives def.
func (v *validator) poller(p []any, s, def string) (string, error) {
	switch s {
	case "":
		return def, nil
	case "own", "go":
		return s, nil
	}
	return "", v.fail(p, "unknown poller %q (own, go)", s)
}

func (v *validator) http(p []any, s *httpSection, accessLog bool) (*HTTPConfig, error) {
	h := &HTTPConfig{Name: s.Name, Balance: s.Balance, AccessLog: accessLog,
		XForwardedFor: s.XForwardedFor, Forwarded: s.Forwarded}
	var err error
	if h.Name == "" {
		return nil, v.fail(at(p, "name"), "required")
	}
	if h.Listen, err = v.listen(at(p, "listen"), s.Listen); err != nil {
		return nil, err
	}
	if len(s.Upstreams) > 0 {
		if h.Upstreams, err = v.upstreams(at(p, "upstreams"), s.Upstreams, true, true); err != nil {
			return nil, err
		}
	}
	if h.Poller, err = v.poller(at(p, "poller"), s.Poller, "own"); err != nil {
		return nil, err
	}
	if h.Balance, err = v.policy(at(p, "balance"), h.Balance, lb.RoundRobin); err != nil {
		return nil, err
	}
	if h.SetRequestHeaders, err = v.headers(at(p, "set_request_headers"), s.SetRequestHeaders); err != nil {
		return nil, err
	}
	if len(s.Routes) == 0 && len(h.Upstreams) == 0 {
		return nil, v.fail(at(p, "upstreams"), "at least one upstream is required (here or in routes)")
	}
	if err = v.httpRoutes(p, s.Routes, h); err != nil {
		return nil, err
	}
	if err = v.httpTimeouts(at(p, "timeouts"), &s.Timeouts, &h.Timeouts); err != nil {
		return nil, err
	}
	switch {
	case s.MaxRetries == nil:
		h.MaxRetries = httpproxy.DefaultMaxRetries
	case *s.MaxRetries < 0 || *s.MaxRetries > 100:
		return nil, v.fail(at(p, "max_retries"), "must be between 0 and 100, got %d", *s.MaxRetries)
	case *s.MaxRetries == 0:
		h.MaxRetries = -1
	default:
		h.MaxRetries = *s.MaxRetries
	}
	if s.AccessLog != nil {
		h.AccessLog = *s.AccessLog
	}
	if h.FilterConfig, err = v.filter(at(p, "filter"), &s.Filter); err != nil {
		return nil, err
	}
	if s.Health != nil {
		if h.Health, err = v.health(at(p, "health"), s.Health); err != nil {
			return nil, err
		}
	}
	if h.SocketConfig, err = v.socket(at(p, "socket"), &s.Socket); err != nil {
		return nil, err
	}
	if s.TLS != nil {
		if h.TLS, err = v.tls(at(p, "tls"), s.TLS, []string{"http/1.1"}); err != nil {
			return nil, err
		}
	}
	h.H2C, h.H2COnly = s.H2C || s.H2COnly, s.H2COnly
	if h.H2, err = v.h2(at(p, "h2"), &s.H2); err != nil {
		return nil, err
	}
	if err := v.httpProtocols(p, s, h); err != nil {
		return nil, err
	}
	return h, nil
}

// httpProtocols validates what an http service speaks beyond HTTP/1.1 and
// HTTP/2: CONNECT, vmux listeners, HTTP/3.
func (v *validator) httpProtocols(p []any, s *httpSection, h *HTTPConfig) error {
	var err error
	if s.Connect != nil {
		if h.Connect, err = v.connect(at(p, "connect"), s.Connect); err != nil {
			return err
		}
		if t := s.Connect.TLS; t != nil {
			if h.Connect.Mode != httpproxy.ConnectPipeline {
				return v.fail(at(p, "connect", "tls"), "only with mode: pipeline (a tunnel's TLS is the client's and the target's)")
			}
			if h.ConnectTLS, err = v.tls(at(p, "connect", "tls"), t, []string{"h2", "http/1.1"}); err != nil {
				return err
			}
		}
	}
	switch h.Protocol = s.Protocol; h.Protocol {
	case "":
		h.Protocol = "http"
	case "http":
	case "vmux":
		if h.TLS != nil {
			return v.fail(at(p, "tls"), "not with protocol: vmux (the session's streams carry HTTP)")
		}
	case "quic":
		if h.TLS == nil {
			return v.fail(at(p, "protocol"), "quic needs the service's tls: (its certificates and alpn)")
		}
		for i, l := range h.Listen {
			if l.Network != "tcp" {
				return v.fail(at(p, "listen", i), "protocol: quic listens on UDP host:port addresses")
			}
		}
	default:
		return v.fail(at(p, "protocol"), "unknown protocol %q (http, vmux, quic)", s.Protocol)
	}
	if h.Vmux, err = v.vmux(at(p, "vmux"), s.Vmux, h.Protocol); err != nil {
		return err
	}
	if q := s.HTTP3; q != nil {
		qp := at(p, "http3")
		if h.TLS == nil {
			return v.fail(qp, "HTTP/3 needs the service's tls: (QUIC is always encrypted)")
		}
		if len(q.Listen) == 0 {
			return v.fail(at(qp, "listen"), "at least one UDP address is required")
		}
		for i, l := range q.Listen {
			if _, err := v.hostPort(at(qp, "listen", i), l, true); err != nil {
				return err
			}
		}
		h.HTTP3 = q.Listen
		h.AltSvc = q.AltSvc == nil || *q.AltSvc
		h.ZeroRTT = q.ZeroRTT
		h.RetryAbove = httpproxy.DefaultRetryAbove
		if r := q.RetryAbove; r != nil {
			if *r < 0 {
				return v.fail(at(qp, "retry_above"), "must be 0 (Retry always) or more, got %d", *r)
			}
			h.RetryAbove = *r
			if *r == 0 {
				h.RetryAbove = -1 // the library's "always"
			}
		}
	}
	return nil
}

// connect validates a connect: section: at least one allowed target, each
// host:port with "*." only before a domain and "*" only as a port.
func (v *validator) connect(p []any, s *connectSection) (*httpproxy.ConnectConfig, error) {
	mode, err := httpproxy.ParseConnectMode(s.Mode)
	if err != nil {
		return nil, v.fail(at(p, "mode"), "unknown mode %q (tunnel, pipeline)", s.Mode)
	}
	if len(s.Allow) == 0 {
		return nil, v.fail(at(p, "allow"), "at least one target is required (host:port, *.domain:port, host:*)")
	}
	for i, a := range s.Allow {
		host, port, err := net.SplitHostPort(a)
		bad := err != nil || host == "" || port == "" || strings.Contains(strings.TrimPrefix(host, "*."), "*")
		if !bad && port != "*" {
			n, err := strconv.Atoi(port)
			bad = err != nil || n < 1 || n > 65535
		}
		if bad {
			return nil, v.fail(at(p, "allow", i), "invalid target %q (want host:port, *.domain:port or host:*)", a)
		}
	}
	return &httpproxy.ConnectConfig{Allow: s.Allow, Mode: mode}, nil
}

// httpRoutes validates the routes: list into h.Routes: names and
// host+path_prefix pairs unique.
func (v *validator) httpRoutes(p []any, routes []httpRouteSection, h *HTTPConfig) error {
	names := map[string]bool{}
	matches := map[string]bool{}
	for i := range routes {
		rp := at(p, "routes", i)
		r, err := v.httpRoute(rp, &routes[i], h)
		if err != nil {
			return err
		}
		if names[r.Name] {
			return v.fail(at(rp, "name"), "duplicate route name %q", r.Name)
		}
		names[r.Name] = true
		m := r.Host + " " + r.PathPrefix
		if matches[m] {
			return v.fail(rp, "another route has the same host and path_prefix")
		}
		matches[m] = true
		h.Routes = append(h.Routes, r)
	}
	return nil
}

// httpTimeouts validates the timeouts: section of an http: service into
// t: every one positive, at least minTimeout, the library's default where
// left out.
func (v *validator) httpTimeouts(tp []any, s *httpTimeoutsSection, t *httpproxy.Timeouts) error {
	for _, d := range []struct {
		key string
		in  string
		out *time.Duration
		def time.Duration
	}{
		{"connect", s.Connect, &t.Connect, httpproxy.DefaultConnectTimeout},
		{"header_read", s.HeaderRead, &t.HeaderRead, httpproxy.DefaultHeaderReadTimeout},
		{"idle", s.Idle, &t.Idle, httpproxy.DefaultIdleTimeout},
		{"body_read", s.BodyRead, &t.BodyRead, httpproxy.DefaultBodyReadTimeout},
		{"write", s.Write, &t.Write, httpproxy.DefaultWriteTimeout},
		{"upstream_read", s.UpstreamRead, &t.UpstreamRead, httpproxy.DefaultUpstreamTimeout},
		{"upstream_write", s.UpstreamWrite, &t.UpstreamWrite, httpproxy.DefaultWriteTimeout},
	} {
		var err error
		if *d.out, err = v.duration(at(tp, d.key), d.in, d.def); err != nil {
			return err
		}
		if *d.out == 0 {
			return v.fail(at(tp, d.key), "must be positive")
		}
		if err := v.atLeast(at(tp, d.key), *d.out, minTimeout, zeroRefused); err != nil {
			return err
		}
	}
	return nil
}

func (v *validator) httpRoute(rp []any, s *httpRouteSection, svc *HTTPConfig) (*HTTPRoute, error) {
	r := &HTTPRoute{Name: s.Name, PathPrefix: s.PathPrefix, Balance: s.Balance}
	var err error
	if s.Host != "" {
		if r.Host, err = v.routeHost(at(rp, "host"), s.Host); err != nil {
			return nil, err
		}
	}
	if r.PathPrefix != "" {
		if !strings.HasPrefix(r.PathPrefix, "/") {
			return nil, v.fail(at(rp, "path_prefix"), "must start with /")
		}
		if strings.ContainsAny(r.PathPrefix, "?# \t\r\n") {
			return nil, v.fail(at(rp, "path_prefix"), "must be a path: no query, fragment or whitespace")
		}
	}
	if r.Host == "" && r.PathPrefix == "" {
		return nil, v.fail(rp, "a route needs a host, a path_prefix or both")
	}
	if r.Name == "" {
		r.Name = r.Host + r.PathPrefix
	}
	if len(s.Upstreams) > 0 {
		if r.Upstreams, err = v.upstreams(at(rp, "upstreams"), s.Upstreams, true, true); err != nil {
			return nil, err
		}
	} else if len(svc.Upstreams) == 0 {
		return nil, v.fail(at(rp, "upstreams"), "required: the service has no upstreams of its own to fall back on")
	}
	if r.Balance != "" && len(s.Upstreams) == 0 {
		return nil, v.fail(at(rp, "balance"), "a route without upstreams of its own uses the service's balancer")
	}
	if r.Balance, err = v.policy(at(rp, "balance"), r.Balance, lb.Policy(svc.Balance)); err != nil {
		return nil, err
	}
	own, err := v.headers(at(rp, "set_request_headers"), s.SetRequestHeaders)
	if err != nil {
		return nil, err
	}
	if m := s.Mirror; m != nil {
		mp := at(rp, "mirror")
		if r.Mirror, err = v.upstreams(at(mp, "upstreams"), m.Upstreams, true, true); err != nil {
			return nil, err
		}
		r.MirrorPercent = 100
		if m.Percent != nil {
			if *m.Percent <= 0 || *m.Percent > 100 {
				return nil, v.fail(at(mp, "percent"), "must be above 0 and at most 100, got %v", *m.Percent)
			}
			r.MirrorPercent = *m.Percent
		}
	}
	// The service's fields, then the route's: the route's value wins.
	r.SetRequestHeaders = slices.Clone(svc.SetRequestHeaders)
	for _, f := range own {
		r.SetRequestHeaders = slices.DeleteFunc(r.SetRequestHeaders, func(g HeaderField) bool { return strings.EqualFold(g.Name, f.Name) })
	}
	r.SetRequestHeaders = append(r.SetRequestHeaders, own...)
	return r, nil
}

// routeHost validates a route's host: a name or an IP, without a port; it
// returns it lower case and without IPv6 brackets.
func (v *validator) routeHost(path []any, s string) (string, error) {
	h := strings.ToLower(strings.TrimSuffix(s, "."))
	if _, port, err := net.SplitHostPort(h); err == nil {
		if _, err := strconv.Atoi(port); err == nil {
			return "", v.fail(path, "host %q must not include a port (the request's port is ignored when matching)", s)
		}
	}
	if strings.HasPrefix(h, "[") && strings.HasSuffix(h, "]") {
		h = h[1 : len(h)-1]
	}
	if h == "" {
		return "", v.fail(path, "empty host")
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == ':') {
			return "", v.fail(path, "invalid host %q (want a name or an IP address, without port, scheme or path)", s)
		}
	}
	return h, nil
}

// headers validates a set_request_headers map; it returns the fields
// sorted by name, so that they are applied in a stable order.
func (v *validator) headers(p []any, m map[string]string) ([]HeaderField, error) {
	names := make([]string, 0, len(m))
	for name := range m {
		names = append(names, name)
	}
	slices.Sort(names)
	var out []HeaderField
	seen := map[string]string{}
	for _, name := range names {
		fp := at(p, name)
		if !validFieldName(name) {
			return nil, v.fail(fp, "invalid header name %q (letters, digits and !#$%%&'*+-.^_`|~ only)", name)
		}
		lower := strings.ToLower(name)
		if slices.Contains(managedHeaders, lower) {
			return nil, v.fail(fp, "%s is managed by the proxy and cannot be set", name)
		}
		if prev, dup := seen[lower]; dup {
			return nil, v.fail(fp, "header %s is also set as %s", name, prev)
		}
		seen[lower] = name
		value := m[name]
		if !validFieldValue(value) {
			return nil, v.fail(fp, "invalid header value %q (no control characters or surrounding whitespace)", value)
		}
		out = append(out, HeaderField{Name: name, Value: value})
	}
	return out, nil
}

// validFieldName reports whether s is an RFC 9110 token.
func validFieldName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// validFieldValue reports whether s may be a field value: no control
// characters but horizontal tab, no leading or trailing whitespace.
func validFieldValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < 0x20 && c != '\t') || c == 0x7f {
			return false
		}
	}
	return strings.TrimSpace(s) == s
}

// h2Section is the h2: section of an http: service: the bounds of each
// HTTP/2 connection (h2c: true, or "h2" in tls.alpn).
type h2Section struct {
	MaxConcurrentStreams uint32 `yaml:"max_concurrent_streams"`
	InitialWindow        uint32 `yaml:"initial_window"`
	MaxFrameSize         uint32 `yaml:"max_frame_size"`
	MaxHeaderListSize    uint32 `yaml:"max_header_list_size"`
}

// h2 validates an h2: section; 0 keeps protocols/http2's default.
func (v *validator) h2(p []any, s *h2Section) (http2.Limits, error) {
	l := http2.Limits{MaxConcurrentStreams: s.MaxConcurrentStreams, StreamWindow: s.InitialWindow,
		MaxFrameSize: s.MaxFrameSize, MaxHeaderListSize: s.MaxHeaderListSize}
	switch {
	case s.InitialWindow != 0 && (s.InitialWindow < 1024 || s.InitialWindow > 1<<31-1):
		return l, v.fail(at(p, "initial_window"), "must be between 1024 and 2147483647, got %d", s.InitialWindow)
	case s.MaxFrameSize != 0 && (s.MaxFrameSize < 1<<14 || s.MaxFrameSize > 1<<24-1):
		return l, v.fail(at(p, "max_frame_size"), "must be between 16384 and 16777215, got %d", s.MaxFrameSize)
	case s.MaxHeaderListSize != 0 && s.MaxHeaderListSize < 1024:
		return l, v.fail(at(p, "max_header_list_size"), "must be at least 1024, got %d", s.MaxHeaderListSize)
	case s.MaxConcurrentStreams > 10000:
		return l, v.fail(at(p, "max_concurrent_streams"), "must be at most 10000, got %d", s.MaxConcurrentStreams)
	}
	return l, nil
}
