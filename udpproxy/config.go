package udpproxy

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"time"

	"github.com/sluice-proxy/sluice/connfilter"
	"github.com/sluice-proxy/sluice/lb"
)

// Defaults for the zero values of Config.
const (
	// DefaultIdleTimeout closes a session after this long without a
	// datagram either way.
	DefaultIdleTimeout = 30 * time.Second
	// DefaultMaxSessions bounds the session table.
	DefaultMaxSessions = 100000
	// DefaultMaxDatagramSize is the receive buffer per datagram: every UDP
	// datagram fits, so nothing is truncated.
	DefaultMaxDatagramSize = 65535
	// DefaultSocketBuffer is what SO_RCVBUF and SO_SNDBUF ask for on the
	// listening sockets (the kernel caps it at net.core.rmem_max/wmem_max).
	DefaultSocketBuffer = 4 << 20
)

// Config configures a Proxy. The first fields map one to one onto an entry
// of the udp: section of sluice's YAML:
//
//	udp:
//	  - name: dns                                    # Name
//	    listen: ["127.0.0.1:5353"]                   # Listen
//	    upstreams: [{addr: "127.0.0.1:53", weight: 1}] # Upstreams
//	    balance: hash                                # Balance
//	    idle_timeout: 30s                            # IdleTimeout
//	    max_sessions: 100000                         # MaxSessions
//	    filter: {allow: [...], deny: [...], session_rate_per_ip: 0} # Filter
//	    proxy_protocol: {send: v2}                   # ProxyOut: 2
//
// The fields after them are for programs using the package directly. As
// in every service library of sluice, a zero field means its documented
// default.
type Config struct {
	// Name names the service in metrics and logs. Required.
	Name string
	// Listen lists the addresses to serve, host:port each. An IPv6 or empty
	// host wildcard ("[::]:53", ":53") is dual-stack. Required.
	Listen []string
	// Upstreams are the backends, host:port each, resolved once by New.
	// Required unless Balancer is set.
	Upstreams []lb.BackendConfig
	// Balance is the lb policy that picks a new session's upstream:
	// lb.Hash (the default when empty: by client IP, so a client sticks to
	// one backend across ports and sessions), lb.RoundRobin, lb.Random or
	// lb.LeastConn (counting open sessions).
	Balance lb.Policy
	// IdleTimeout closes a session after this long without a datagram in
	// either direction; 0 means DefaultIdleTimeout.
	IdleTimeout time.Duration
	// MaxSessions bounds the sessions held at once; a new client beyond it
	// evicts the least recently active session. 0 means DefaultMaxSessions.
	// Each session holds one socket, so RLIMIT_NOFILE must leave room.
	MaxSessions int
	// Filter configures the built-in filters, applied when a session is
	// created (never per datagram of an existing session).
	Filter FilterConfig
	// ProxyOut is the PROXY version prepended to every datagram sent
	// upstream, as tcpproxy.Config.ProxyOut: 2 announces the client and the
	// address it sent to; 0 sends none. Version 1 cannot describe UDP and
	// is refused.
	ProxyOut int

	// Balancer, when set, picks upstreams instead of one built from
	// Upstreams and Balance; its backends' addresses must be UDP host:port.
	// Wire its health observer to HealthChanged.
	Balancer *lb.Balancer
	// CustomFilter, when set, judges new sessions after the built-ins. It
	// runs inline on a worker and must not block.
	CustomFilter connfilter.Filter
	// Workers is the number of event loops, each with its own
	// SO_REUSEPORT socket per listen address and its own share of
	// MaxSessions; 0 means GOMAXPROCS.
	Workers int
	// MaxDatagramSize is the largest datagram forwarded, 1..65535; bigger
	// ones are dropped and counted as "truncated". 0 means
	// DefaultMaxDatagramSize. Below 65535, UDP GRO is not used.
	MaxDatagramSize int
	// SocketBuffer sets SO_RCVBUF and SO_SNDBUF on the listening sockets:
	// 0 means DefaultSocketBuffer, negative keeps the system default.
	SocketBuffer int
	// DisableOffload turns off UDP GRO and GSO even where the kernel has
	// them.
	DisableOffload bool
	// Metrics receives this service's series; nil keeps them private.
	Metrics *Metrics
	// Logger gets one line per closed session (at Info with AccessLog,
	// else at Debug), rejections at Debug, and faults; nil discards.
	Logger *slog.Logger
	// AccessLog logs closed sessions at Info level.
	AccessLog bool
}

// FilterConfig is the filter: block of a udp: entry.
type FilterConfig struct {
	// Allow, when not empty, admits only clients in these prefixes.
	Allow []netip.Prefix
	// Deny refuses clients in these prefixes; it wins over Allow.
	Deny []netip.Prefix
	// SessionRatePerIP bounds new sessions per client IP per second
	// (connfilter.NewRate); 0 means no limit.
	SessionRatePerIP float64
	// SessionBurstPerIP is the rate limit's burst; 0 means
	// connfilter.DefaultBurst(SessionRatePerIP), as for TCP and HTTP.
	SessionBurstPerIP int
}

// ErrInvalidConfig is wrapped by every error New returns for a bad Config.
var ErrInvalidConfig = errors.New("udpproxy: invalid config")

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidConfig, fmt.Sprintf(format, args...))
}
