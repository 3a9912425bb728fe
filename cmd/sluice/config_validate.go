package main

import (
	"log/slog"
	"net"
	"net/netip"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/sluice-proxy/sluice/httpproxy"
	"github.com/sluice-proxy/sluice/lb"
	"github.com/sluice-proxy/sluice/protocols/proxyproto"
	"github.com/sluice-proxy/sluice/protocols/vmux"
	"github.com/sluice-proxy/sluice/tcpproxy"
	"github.com/sluice-proxy/sluice/transport"
	"github.com/sluice-proxy/sluice/udpproxy"
)

// Config is a validated configuration, ready to run.
type Config struct {
	Metrics   *MetricsConfig
	LogLevel  slog.Level
	LogFormat string // "text" or "json"
	AccessLog bool
	Grace     time.Duration
	TCP       []*TCPConfig
	UDP       []*UDPConfig
	HTTP      []*HTTPConfig
	// UpgradeSocket is where a running sluice hands its listening sockets
	// to its successor (lifecycle.upgrade_socket); "" for no upgrades.
	UpgradeSocket string
	// Path is the file the config came from ("" for the demo's); Hash
	// names its contents (sluice_config_info).
	Path, Hash string
}

// UDPConfig is one UDP forwarding service.
type UDPConfig struct {
	Name              string
	Listen            []string
	Upstreams         []Upstream
	Balance           string
	IdleTimeout       time.Duration
	MaxSessions       int
	MaxDatagramSize   int
	Workers           int
	Allow, Deny       []netip.Prefix
	SessionRatePerIP  float64
	SessionBurstPerIP int
	ProxySend         int // 0 or 2
}

// MetricsConfig is where Prometheus metrics are served.
type MetricsConfig struct {
	Listen string
	Path   string
}

// Addr is a network and an address: tcp host:port, or unix /path, read by
// transport.ParseAddr.
type Addr = transport.Addr

// Upstream is one backend of a service.
type Upstream struct {
	Addr   Addr
	Weight int
	// TLS originates TLS to the upstream; nil for cleartext.
	TLS *transport.ClientTLS
	// HTTP services only: the HTTP version spoken to the upstream, and
	// for HTTP/2 the streams per connection and the PING interval.
	Protocol     httpproxy.Protocol
	MaxStreams   int
	PingInterval time.Duration
}

// TCPConfig is one TCP forwarding service.
type TCPConfig struct {
	Name      string
	Protocol  string // "tcp", or "vmux": each stream of a vmux session is a connection
	Listen    []Addr
	Upstreams []Upstream
	Balance   string

	ProxyAccept   bool
	ProxyTrusted  []netip.Prefix
	ProxySend     int
	HeaderTimeout time.Duration

	FilterConfig

	ConnectTimeout time.Duration
	IdleTimeout    time.Duration

	Health *HealthConfig

	Tries  int
	Budget time.Duration

	SocketConfig
	Source string

	// Vmux is the vmux: section: the limits of each session on a
	// protocol: vmux listener. Unused for protocol: tcp.
	Vmux VmuxLimits
	// TLS terminates TLS on the listeners; nil for none.
	TLS *TLSConfig
	// Routes pick upstreams by the ClientHello (without terminating);
	// HelloTimeout bounds its read.
	Routes       []TCPRoute
	HelloTimeout time.Duration
}

// VmuxLimits are the limits of the vmux sessions of a protocol: vmux
// service. The time limits follow sluice's convention: a key left out keeps
// vmux's default, and 0 turns the limit off (vmuxConfig maps them onto
// vmux.Config, where 0 means the default and a negative value off). The
// memory limits are always on: MaxStreams × StreamWindow bounds what one
// connection's peer can make sluice buffer.
type VmuxLimits struct {
	HandshakeTimeout time.Duration // the peer's HELLO, from the connection's start
	FrameTimeout     time.Duration // a frame, from its first byte
	IdleTimeout      time.Duration // no stream open and no frame either way
	MaxStreams       int           // streams the peer may have open at once
	StreamWindow     int           // bytes the peer may send on a stream before it is read
}

// FilterConfig is a filter: section of a tcp: or http: service: the
// connection filters judged at accept.
type FilterConfig struct {
	Allow, Deny         []netip.Prefix
	AllowFile, DenyFile string
	MaxConns            int
	MaxConnsPerIP       int
	AcceptRatePerIP     float64
	AcceptBurstPerIP    int
}

// SocketConfig is a socket: section of a tcp: or http: service.
type SocketConfig struct {
	ReusePort  bool
	NoDelay    bool
	KeepAlive  time.Duration
	FastOpen   int
	Backlog    int
	RecvBuffer int
	SendBuffer int
}

// HealthConfig configures active TCP health checks.
type HealthConfig struct {
	Interval, Timeout time.Duration
	Rise, Fall        int
}

func (v *validator) config(fc *fileConfig) (*Config, error) {
	c := &Config{LogFormat: "text", AccessLog: true}
	if err := v.process(fc, c); err != nil {
		return nil, err
	}
	seen := claims{names: map[string]bool{}, listens: map[string]bool{}}
	for i := range fc.TCP {
		t, err := v.tcp([]any{"tcp", i}, &fc.TCP[i])
		if err != nil {
			return nil, err
		}
		if err := v.claim(&seen, "tcp", i, t.Name, addrKeys(t.Listen), shareable(t.Listen, t.ReusePort)); err != nil {
			return nil, err
		}
		c.TCP = append(c.TCP, t)
	}
	for i := range fc.UDP {
		u, err := v.udp([]any{"udp", i}, &fc.UDP[i])
		if err != nil {
			return nil, err
		}
		keys := make([]string, 0, len(u.Listen))
		for _, l := range u.Listen {
			keys = append(keys, "udp "+l)
		}
		if err := v.claim(&seen, "udp", i, u.Name, keys, func(int) bool { return false }); err != nil {
			return nil, err
		}
		c.UDP = append(c.UDP, u)
	}
	for i := range fc.HTTP {
		h, err := v.http([]any{"http", i}, &fc.HTTP[i], c.AccessLog)
		if err != nil {
			return nil, err
		}
		if err := v.claim(&seen, "http", i, h.Name, addrKeys(h.Listen), shareable(h.Listen, h.ReusePort)); err != nil {
			return nil, err
		}
		c.HTTP = append(c.HTTP, h)
	}
	if len(c.TCP)+len(c.UDP)+len(c.HTTP) == 0 {
		return nil, v.fail([]any{"tcp"}, "no services configured (tcp:, udp: or http:)")
	}
	return c, nil
}

// process validates the process-wide sections into c: metrics, log and
// shutdown.
func (v *validator) process(fc *fileConfig, c *Config) error {
	if fc.Metrics != nil {
		p := []any{"metrics"}
		if fc.Metrics.Listen == "" {
			return v.fail(at(p, "listen"), "required")
		}
		if _, err := v.hostPort(at(p, "listen"), fc.Metrics.Listen, true); err != nil {
			return err
		}
		c.Metrics = &MetricsConfig{Listen: fc.Metrics.Listen, Path: fc.Metrics.Path}
		if c.Metrics.Path == "" {
			c.Metrics.Path = "/metrics"
		}
		if !strings.HasPrefix(c.Metrics.Path, "/") {
			return v.fail(at(p, "path"), "must start with /")
		}
	}
	switch strings.ToLower(fc.Log.Level) {
	case "", "info":
		c.LogLevel = slog.LevelInfo
	case "debug":
		c.LogLevel = slog.LevelDebug
	case "warn", "warning":
		c.LogLevel = slog.LevelWarn
	case "error":
		c.LogLevel = slog.LevelError
	default:
		return v.fail([]any{"log", "level"}, "unknown level %q (debug, info, warn, error)", fc.Log.Level)
	}
	switch fc.Log.Format {
	case "", "text":
	case "json":
		c.LogFormat = "json"
	default:
		return v.fail([]any{"log", "format"}, "unknown format %q (text, json)", fc.Log.Format)
	}
	if fc.Log.AccessLog != nil {
		c.AccessLog = *fc.Log.AccessLog
	}
	var err error
	if c.Grace, err = v.duration([]any{"shutdown", "grace"}, fc.Shutdown.Grace, 30*time.Second); err != nil {
		return err
	}
	if us := fc.Lifecycle.UpgradeSocket; us != "" {
		if !filepath.IsAbs(us) || len(us) > 100 {
			return v.fail([]any{"lifecycle", "upgrade_socket"}, "want an absolute path of at most 100 bytes (a Unix socket), got %q", us)
		}
		c.UpgradeSocket = us
	}
	return nil
}

// claims are the service names and listen addresses taken so far.
type claims struct{ names, listens map[string]bool }

// claim takes a service's name and listen addresses (keys), refusing a
// name taken before, and an address taken before unless mayShare says it
// can be (SO_REUSEPORT, or port 0).
func (v *validator) claim(seen *claims, kind string, i int, name string, keys []string, mayShare func(j int) bool) error {
	if seen.names[name] {
		return v.fail([]any{kind, i, "name"}, "duplicate service name %q", name)
	}
	seen.names[name] = true
	for j, key := range keys {
		if seen.listens[key] && !mayShare(j) {
			return v.fail([]any{kind, i, "listen", j}, "address %s is already used by another listener", strings.TrimPrefix(key, "udp "))
		}
		seen.listens[key] = true
	}
	return nil
}

// addrKeys are the claim keys of stream listen addresses.
func addrKeys(as []Addr) []string {
	keys := make([]string, 0, len(as))
	for _, a := range as {
		keys = append(keys, a.String())
	}
	return keys
}

// shareable says which of as may be listened on twice: all with
// SO_REUSEPORT, and those on port 0 (each gets a port of its own).
func shareable(as []Addr, reusePort bool) func(j int) bool {
	return func(j int) bool { return reusePort || anyPort(as[j]) }
}

// tcpProxyProtocol validates a tcp: service's proxy_protocol: section into t.
func (v *validator) tcpProxyProtocol(pp []any, s *proxySection, t *TCPConfig) error {
	var err error
	t.ProxyAccept = s.Accept
	if t.ProxyTrusted, err = v.prefixes(at(pp, "trusted"), s.Trusted); err != nil {
		return err
	}
	if t.ProxyAccept && t.Protocol == "vmux" {
		return v.fail(at(pp, "accept"), "PROXY headers are not taken on vmux listeners")
	}
	if t.ProxyAccept && len(t.ProxyTrusted) == 0 {
		return v.fail(at(pp, "trusted"), "accept: true needs at least one trusted CIDR (a PROXY header is only taken from trusted peers)")
	}
	if t.ProxySend, err = proxyproto.ParseVersion(s.Send); err != nil {
		return v.fail(at(pp, "send"), "unknown version %q (\"\", v1, v2)", s.Send)
	}
	if t.HeaderTimeout, err = v.duration(at(pp, "header_timeout"), s.HeaderTimeout, proxyproto.DefaultHeaderTimeout); err != nil {
		return err
	}
	if err := v.atLeast(at(pp, "header_timeout"), t.HeaderTimeout, minTimeout, defaultHint); err != nil {
		return err
	}
	return nil
}

func (v *validator) tcp(p []any, s *tcpSection) (*TCPConfig, error) {
	t := &TCPConfig{Name: s.Name, Balance: s.Balance, Protocol: s.Protocol}
	var err error
	if t.Name == "" {
		return nil, v.fail(at(p, "name"), "required")
	}
	switch t.Protocol {
	case "":
		t.Protocol = "tcp"
	case "tcp", "vmux":
	default:
		return nil, v.fail(at(p, "protocol"), "unknown protocol %q (tcp, vmux)", t.Protocol)
	}
	if t.Listen, err = v.listen(at(p, "listen"), s.Listen); err != nil {
		return nil, err
	}
	if len(s.Upstreams) > 0 || len(s.Routes) == 0 {
		if t.Upstreams, err = v.upstreams(at(p, "upstreams"), s.Upstreams, true, false); err != nil {
			return nil, err
		}
	}
	if t.Balance, err = v.policy(at(p, "balance"), t.Balance, lb.RoundRobin); err != nil {
		return nil, err
	}

	if err = v.tcpProxyProtocol(at(p, "proxy_protocol"), &s.ProxyProtocol, t); err != nil {
		return nil, err
	}
	if t.FilterConfig, err = v.filter(at(p, "filter"), &s.Filter); err != nil {
		return nil, err
	}

	tp := at(p, "timeouts")
	if t.ConnectTimeout, err = v.duration(at(tp, "connect"), s.Timeouts.Connect, tcpproxy.DefaultConnectTimeout); err != nil {
		return nil, err
	}
	if err := v.atLeast(at(tp, "connect"), t.ConnectTimeout, minTimeout, defaultHint); err != nil {
		return nil, err
	}
	if t.IdleTimeout, err = v.duration(at(tp, "idle"), s.Timeouts.Idle, tcpproxy.DefaultIdleTimeout); err != nil {
		return nil, err
	}
	// The idle clock re-arms a deadline every period while bytes move.
	if err := v.atLeast(at(tp, "idle"), t.IdleTimeout, minPeriod, offHint); err != nil {
		return nil, err
	}
	if s.Health != nil {
		if t.Health, err = v.health(at(p, "health"), s.Health); err != nil {
			return nil, err
		}
	}
	fo := at(p, "failover")
	t.Tries = s.Failover.Tries
	if t.Tries < 0 {
		return nil, v.fail(at(fo, "tries"), "must not be negative")
	}
	if t.Tries == 0 {
		t.Tries = min(3, len(t.Upstreams))
	}
	if t.Budget, err = v.duration(at(fo, "budget"), s.Failover.Budget, 0); err != nil {
		return nil, err
	}
	if err := v.atLeast(at(fo, "budget"), t.Budget, minTimeout, "0s means no budget"); err != nil {
		return nil, err
	}

	if t.SocketConfig, err = v.socket(at(p, "socket"), &s.Socket); err != nil {
		return nil, err
	}
	if s.Source != "" {
		if _, err := netip.ParseAddr(s.Source); err != nil {
			return nil, v.fail(at(p, "source"), "invalid source IP %q", s.Source)
		}
		t.Source = s.Source
	}
	if t.Vmux, err = v.vmux(at(p, "vmux"), s.Vmux, t.Protocol); err != nil {
		return nil, err
	}
	if s.TLS != nil {
		if t.TLS, err = v.tls(at(p, "tls"), s.TLS, nil); err != nil {
			return nil, err
		}
	}
	if err := v.tcpRoutes(p, s, t); err != nil {
		return nil, err
	}
	return t, nil
}

// vmux validates the vmux: section of a tcp: service, allowed only with
// protocol: vmux.
func (v *validator) vmux(p []any, s *vmuxSection, protocol string) (VmuxLimits, error) {
	l := VmuxLimits{
		HandshakeTimeout: vmux.DefaultHandshakeTimeout,
		FrameTimeout:     vmux.DefaultFrameTimeout,
		IdleTimeout:      vmux.DefaultIdleTimeout,
		MaxStreams:       vmux.DefaultMaxStreams,
		StreamWindow:     vmux.DefaultWindow,
	}
	// The key too: "vmux:" alone decodes to nil.
	if s == nil && v.node(p) == nil {
		return l, nil
	}
	if protocol != "vmux" {
		return l, v.fail(p, "only allowed with protocol: vmux (this service's protocol is %s)", protocol)
	}
	if s == nil {
		return l, nil
	}
	var err error
	for _, d := range []struct {
		key   string
		in    string
		out   *time.Duration
		floor time.Duration
	}{
		// A one-shot deadline; the other two arm the read deadline's
		// check-ups, which a tiny value would run in a loop.
		{"handshake_timeout", s.HandshakeTimeout, &l.HandshakeTimeout, minTimeout},
		{"frame_timeout", s.FrameTimeout, &l.FrameTimeout, minPeriod},
		{"idle_timeout", s.IdleTimeout, &l.IdleTimeout, minPeriod},
	} {
		if *d.out, err = v.limit(at(p, d.key), d.in, *d.out); err != nil {
			return l, err
		}
		if err := v.atLeast(at(p, d.key), *d.out, d.floor, offHint); err != nil {
			return l, err
		}
	}
	if s.MaxStreams != nil {
		l.MaxStreams = *s.MaxStreams
		if l.MaxStreams < 1 {
			return l, v.fail(at(p, "max_streams"), "must be at least 1, got %d (a peer could open no stream)", l.MaxStreams)
		}
	}
	if s.StreamWindow != "" {
		w, ok := parseSize(s.StreamWindow)
		if !ok {
			return l, v.fail(at(p, "stream_window"), "invalid size %q (want bytes, or e.g. 64KiB, 1MiB)", s.StreamWindow)
		}
		if w < vmux.MinWindow || w > vmux.MaxWindow {
			return l, v.fail(at(p, "stream_window"), "must be between %s and %s, got %s", formatSize(vmux.MinWindow), formatSize(vmux.MaxWindow), s.StreamWindow)
		}
		l.StreamWindow = int(w)
	}
	if per := int64(l.MaxStreams) * int64(l.StreamWindow); per > maxVmuxSessionBuffer {
		key := "max_streams"
		if s.StreamWindow != "" {
			key = "stream_window"
		}
		return l, v.fail(at(p, key), "max_streams × stream_window lets one connection make sluice buffer %s (%d × %s); at most %s",
			formatSize(per), l.MaxStreams, formatSize(int64(l.StreamWindow)), formatSize(maxVmuxSessionBuffer))
	}
	return l, nil
}

// maxVmuxSessionBuffer is the most a vmux: section may let one connection
// make sluice buffer (max_streams × stream_window): beyond it, a handful
// of connections whose upstreams hang exhaust a machine's memory.
const maxVmuxSessionBuffer = 1 << 30

// parseSize reads a byte count: an integer of bytes, or one followed by B,
// KiB, MiB or GiB (any case, spaces allowed before the unit).
func parseSize(s string) (int64, bool) {
	s = strings.TrimSpace(s)
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	if i == 0 || i > 12 {
		return 0, false
	}
	n, err := strconv.ParseInt(s[:i], 10, 64)
	if err != nil {
		return 0, false
	}
	switch strings.ToLower(strings.TrimSpace(s[i:])) {
	case "", "b":
	case "kib":
		n <<= 10
	case "mib":
		n <<= 20
	case "gib":
		n <<= 30
	default:
		return 0, false
	}
	return n, true
}

// formatSize writes n bytes in the largest binary unit that divides it.
func formatSize(n int64) string {
	for _, u := range []struct {
		shift uint
		name  string
	}{{30, "GiB"}, {20, "MiB"}, {10, "KiB"}} {
		if n != 0 && n%(1<<u.shift) == 0 {
			return strconv.FormatInt(n>>u.shift, 10) + u.name
		}
	}
	return strconv.FormatInt(n, 10) + " bytes"
}

// Floors below which a duration is refused. Work repeated every period
// (health probes, vmux check-ups, idle expiry) would run nearly in a loop
// below minPeriod, burning a core; a timeout below minTimeout fails every
// attempt before any peer could answer.
const (
	minPeriod  = 100 * time.Millisecond
	minTimeout = 10 * time.Millisecond
)

// Hints for atLeast: whether 0 is allowed, and what it means.
const (
	zeroRefused = ""
	offHint     = "0s turns it off"
	defaultHint = "0s means the default"
)

// atLeast refuses a duration below floor. 0 passes when zero says what it
// means (offHint, defaultHint), and is refused with zeroRefused.
func (v *validator) atLeast(path []any, d, floor time.Duration, zero string) error {
	if d >= floor || (d == 0 && zero != zeroRefused) {
		return nil
	}
	if zero != zeroRefused {
		return v.fail(path, "must be at least %v, got %v (%s)", floor, d, zero)
	}
	return v.fail(path, "must be at least %v, got %v", floor, d)
}

// limit is a duration for a limit that 0s turns off: a negative one is
// refused with a hint to that.
func (v *validator) limit(path []any, s string, def time.Duration) (time.Duration, error) {
	if d, err := time.ParseDuration(s); err == nil && d < 0 {
		return 0, v.fail(path, "must not be negative, got %s (0s turns the limit off)", s)
	}
	return v.duration(path, s, def)
}

// listen validates a service's listen: list (host:port or unix:/path each;
// at least one).
func (v *validator) listen(path []any, list []string) ([]Addr, error) {
	if len(list) == 0 {
		return nil, v.fail(path, "at least one address is required")
	}
	out := make([]Addr, 0, len(list))
	for i, l := range list {
		a, err := v.addr(at(path, i), l, true)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, nil
}

// policy reads a balance: key with lb.ParsePolicy (the one list of
// policies); empty gives def.
func (v *validator) policy(path []any, s string, def lb.Policy) (string, error) {
	if s == "" {
		return string(def), nil
	}
	p, err := lb.ParsePolicy(s)
	if err != nil {
		return "", v.fail(path, "%s", strings.TrimPrefix(err.Error(), lb.ErrInvalidConfig.Error()+": "))
	}
	return string(p), nil
}

// anyPort reports whether a is a TCP address with port 0, which the
// system replaces by a free port: two such listeners never collide.
func anyPort(a Addr) bool {
	_, port, err := net.SplitHostPort(a.Address)
	return a.Network == "tcp" && err == nil && port == "0"
}

// addr validates "host:port" or "unix:/path".
func (v *validator) addr(path []any, s string, listen bool) (Addr, error) {
	a, err := transport.ParseAddr(s)
	switch {
	case err != nil:
		return Addr{}, v.fail(path, "empty unix socket path")
	case a.Network == "unix":
		return a, nil
	}
	a.Address, err = v.hostPort(path, s, listen)
	return a, err
}

func (v *validator) hostPort(path []any, s string, listen bool) (string, error) {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return "", v.fail(path, "invalid address %q (want host:port or unix:/path)", s)
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 0 || n > 65535 || (!listen && n == 0) {
		return "", v.fail(path, "invalid port in %q", s)
	}
	if !listen && host == "" {
		return "", v.fail(path, "missing host in %q", s)
	}
	return s, nil
}

func (v *validator) health(hp []any, s *healthSection) (*HealthConfig, error) {
	h := &HealthConfig{Rise: s.Rise, Fall: s.Fall}
	var err error
	if h.Interval, err = v.duration(at(hp, "interval"), s.Interval, lb.DefaultCheckInterval); err != nil {
		return nil, err
	}
	// Every upstream is probed once per interval: a tiny one dials in a
	// loop.
	if err := v.atLeast(at(hp, "interval"), h.Interval, minPeriod, zeroRefused); err != nil {
		return nil, err
	}
	if h.Timeout, err = v.duration(at(hp, "timeout"), s.Timeout, time.Second); err != nil {
		return nil, err
	}
	if err := v.atLeast(at(hp, "timeout"), h.Timeout, minTimeout, zeroRefused); err != nil {
		return nil, err
	}
	// lb counts the interval from the end of one probe, so a longer
	// timeout would work, but a probe outliving the interval says the
	// two were swapped.
	if h.Timeout > h.Interval {
		return nil, v.fail(at(hp, "timeout"), "must be at most the interval (%v), got %v", h.Interval, h.Timeout)
	}
	for _, n := range []struct {
		key string
		val *int
	}{{"rise", &h.Rise}, {"fall", &h.Fall}} {
		if *n.val < 0 {
			return nil, v.fail(at(hp, n.key), "must be at least 1, got %d (0 means 2)", *n.val)
		}
		if *n.val == 0 {
			*n.val = 2
		}
	}
	return h, nil
}

// upstreams validates an upstreams list; unix: addresses only where allowed,
// HTTP protocol keys only for http services.
func (v *validator) upstreams(p []any, list []upstreamSection, unixOK, http bool) ([]Upstream, error) {
	if len(list) == 0 {
		return nil, v.fail(p, "at least one upstream is required")
	}
	var out []Upstream
	seen := map[string]bool{}
	for i, u := range list {
		up := at(p, i)
		if u.Addr == "" {
			return nil, v.fail(at(up, "addr"), "required")
		}
		a, err := v.addr(at(up, "addr"), u.Addr, false)
		if err != nil {
			return nil, err
		}
		if a.Network == "unix" && !unixOK {
			return nil, v.fail(at(up, "addr"), "unix sockets are not supported here")
		}
		if seen[a.String()] {
			return nil, v.fail(at(up, "addr"), "duplicate upstream %s", a)
		}
		seen[a.String()] = true
		w := 1
		if u.Weight != nil {
			w = *u.Weight
			if w < 1 || w > 1000 {
				return nil, v.fail(at(up, "weight"), "must be between 1 and 1000, got %d", w)
			}
		}
		var ut *transport.ClientTLS
		if u.TLS != nil {
			if !unixOK {
				return nil, v.fail(at(up, "tls"), "TLS to upstreams is for tcp: and http: services")
			}
			if ut, err = v.upstreamTLS(at(up, "tls"), u.TLS); err != nil {
				return nil, err
			}
		}
		uu := Upstream{Addr: a, Weight: w, TLS: ut}
		if err := v.upstreamHTTP(up, &u, &uu, http); err != nil {
			return nil, err
		}
		out = append(out, uu)
	}
	return out, nil
}

func (v *validator) udp(p []any, s *udpSection) (*UDPConfig, error) {
	u := &UDPConfig{Name: s.Name, Balance: s.Balance}
	var err error
	if u.Name == "" {
		return nil, v.fail(at(p, "name"), "required")
	}
	if len(s.Listen) == 0 {
		return nil, v.fail(at(p, "listen"), "at least one address is required")
	}
	for i, l := range s.Listen {
		if _, err := v.hostPort(at(p, "listen", i), l, true); err != nil {
			return nil, err
		}
		u.Listen = append(u.Listen, l)
	}
	if u.Upstreams, err = v.upstreams(at(p, "upstreams"), s.Upstreams, false, false); err != nil {
		return nil, err
	}
	if u.Balance, err = v.policy(at(p, "balance"), u.Balance, lb.Hash); err != nil {
		return nil, err
	}
	if u.IdleTimeout, err = v.duration(at(p, "idle_timeout"), s.IdleTimeout, udpproxy.DefaultIdleTimeout); err != nil {
		return nil, err
	}
	// Expiry is checked as often as sessions can expire.
	if err := v.atLeast(at(p, "idle_timeout"), u.IdleTimeout, minPeriod, zeroRefused); err != nil {
		return nil, err
	}
	for _, n := range []struct {
		key string
		val int
	}{{"max_sessions", s.MaxSessions}, {"workers", s.Workers}} {
		if n.val < 0 {
			return nil, v.fail(at(p, n.key), "must not be negative")
		}
	}
	u.MaxSessions, u.Workers = s.MaxSessions, s.Workers
	if s.MaxDatagram < 0 || s.MaxDatagram > 65535 {
		return nil, v.fail(at(p, "max_datagram_size"), "must be between 1 and 65535")
	}
	u.MaxDatagramSize = s.MaxDatagram
	fp := at(p, "filter")
	if u.Allow, err = v.prefixes(at(fp, "allow"), s.Filter.Allow); err != nil {
		return nil, err
	}
	if u.Deny, err = v.prefixes(at(fp, "deny"), s.Filter.Deny); err != nil {
		return nil, err
	}
	if s.Filter.SessionRatePerIP < 0 {
		return nil, v.fail(at(fp, "session_rate_per_ip"), "must not be negative")
	}
	if s.Filter.SessionBurstPerIP < 0 {
		return nil, v.fail(at(fp, "session_burst_per_ip"), "must not be negative")
	}
	u.SessionRatePerIP, u.SessionBurstPerIP = s.Filter.SessionRatePerIP, s.Filter.SessionBurstPerIP
	switch u.ProxySend, err = proxyproto.ParseVersion(s.ProxyProtocol.Send); {
	case err != nil:
		return nil, v.fail(at(p, "proxy_protocol", "send"), "unknown version %q (\"\", v2)", s.ProxyProtocol.Send)
	case u.ProxySend == 1:
		return nil, v.fail(at(p, "proxy_protocol", "send"), "PROXY v1 cannot describe UDP; use v2")
	}
	return u, nil
}
