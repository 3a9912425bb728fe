package httpproxy

import (
	"crypto/tls"
	"time"

	"github.com/sluice-proxy/sluice/vstream"
)

// Peer is the upstream a request goes to, as UpstreamPeer returns it. The
// pipeline only reads it, so a Proxy can hand out one long-lived Peer per
// backend instead of allocating one per request.
type Peer struct {
	// Addr is the upstream's address: host:port for TCP, a path for a Unix
	// socket (with Network "unix"), or whatever Dialer understands.
	Addr string
	// Network is "tcp" (the default), "tcp4", "tcp6" or "unix". It is
	// ignored when Dialer is set.
	Network string
	// Dialer, when set, connects instead of a socket dial, so the upstream
	// can be a virtual stream: a vmux or QUIC stream, a tunnel, an
	// in-process service.
	Dialer vstream.Dialer
	// TLS, when set, originates TLS to the upstream (transport.NewTLSClient
	// builds one): the handshake is part of the connect and bounded by its
	// timeout; a failed one is ErrUpstreamTLS (502). Connections are
	// pooled per TLS config: peers with different ones never share.
	TLS *tls.Config
	// PoolKey names the pool of idle connections this peer shares. Peers
	// with the same key share connections, so two peers that differ in what
	// a connection means (a different Dialer, TLS settings) need different
	// keys. Empty means Network+" "+Addr, and "vstream "+Addr with a Dialer.
	PoolKey string
	// ConnectTimeout bounds a connect; 0 means Config.Timeouts.Connect.
	ConnectTimeout time.Duration
	// ReadTimeout bounds the wait for the response head and for each read of
	// the response body; 0 means Config.Timeouts.UpstreamRead.
	ReadTimeout time.Duration
	// WriteTimeout bounds each write upstream; 0 means
	// Config.Timeouts.UpstreamWrite.
	WriteTimeout time.Duration
	// IdleTimeout bounds how long a connection to this peer waits idle in
	// the pool; 0 means the pool's default. Negative means the connection
	// is never pooled.
	IdleTimeout time.Duration
	// Protocol is the HTTP version spoken to the peer: HTTP/1.1 (the
	// default), HTTP/2 over TLS or cleartext, or what ALPN picks. HTTP/2
	// connections are shared by concurrent requests (see Pool).
	Protocol Protocol
	// MaxStreams bounds the requests in flight on one HTTP/2 connection to
	// the peer, below the peer's own SETTINGS_MAX_CONCURRENT_STREAMS; when
	// every connection is full a new one is dialled. 0 means the peer's
	// limit alone.
	MaxStreams int
	// PingInterval, when positive, sends a PING on an HTTP/2 connection
	// that has received nothing for that long, and closes it when no
	// answer comes within the interval (at least 1 s).
	PingInterval time.Duration
}

// key returns the pool key.
func (p *Peer) key() string {
	if p.PoolKey != "" {
		return p.PoolKey
	}
	if p.Dialer != nil {
		return "vstream " + p.Addr
	}
	return p.network() + " " + p.Addr
}

func (p *Peer) network() string {
	if p.Network == "" {
		return "tcp"
	}
	return p.Network
}

// String returns the peer's address, for logs and metric labels.
func (p *Peer) String() string {
	if p == nil {
		return ""
	}
	return p.Addr
}
