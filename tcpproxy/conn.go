package tcpproxy

import (
	"context"
	"errors"
	"net"
	"os"
	"syscall"
	"time"

	"github.com/sluice-proxy/sluice/lb"
	"github.com/sluice-proxy/sluice/protocols/proxyproto"
	"github.com/sluice-proxy/sluice/splice"
	"github.com/sluice-proxy/sluice/transport"
	"github.com/sluice-proxy/sluice/vstream"
)

// handle serves one connection the shell admitted (after its PROXY
// header, if any). It runs on the connection's own goroutine.
func (p *Proxy) handle(ctx context.Context, c net.Conn, d *vstream.Digest) {
	m := p.metrics
	if m != nil {
		m.conns.Inc()
		m.active.Inc()
		defer m.active.Dec()
	}

	bal := p.cfg.Balancer
	var sni string
	if len(p.cfg.Routes) > 0 {
		rc, rb, h, reason, err := p.routeHello(c)
		if err != nil {
			c.Close()
			if m != nil {
				m.failed(reason)
			}
			p.log.Warn("connection not routed", "client", addrString(d.ClientAddr), "reason", reason, "error", err)
			return
		}
		c, bal, sni = rc, rb, h.ServerName
	}
	key := p.hashKey(d)
	start := time.Now()
	up, be, tries, err := bal.Dial(ctx, key, p.dial, p.cfg.Failover)
	connectDur := time.Since(start)
	if err != nil {
		c.Close()
		reason := "connect_failed"
		switch {
		case errors.Is(err, lb.ErrLocalResource):
			reason = "local_resource" // sluice's own shortage, not the upstream's
		case errors.Is(err, lb.ErrNoBackend):
			reason = "no_upstream"
		case errors.Is(err, transport.ErrUpstreamTLS):
			reason = "upstream_tls"
		}
		if m != nil {
			m.failed(reason)
		}
		p.log.Warn("no upstream connection", "client", addrString(d.ClientAddr), "tries", tries, "reason", reason, "error", err)
		return
	}
	var um *upstreamMetrics
	if m != nil {
		um = m.upstreams[be.Addr]
	}
	if um != nil {
		um.conns.Inc()
		um.active.Inc()
		defer um.active.Dec()
	}

	if p.cfg.ProxyOut != 0 {
		dst := d.ProxyDest
		if dst == nil {
			dst = d.LocalAddr
		}
		if err := proxyproto.WriteHeader(up, p.cfg.ProxyOut, d.ClientAddr, dst, nil); err != nil {
			c.Close()
			up.Close()
			be.Release()
			if m != nil {
				m.failed("proxy_send")
			}
			p.log.Warn("sending PROXY header failed", "upstream", be.Addr, "error", err)
			return
		}
	}

	// ctx is cancelled when a graceful drain runs out of time.
	stats, err := splice.Join(ctx, c, up, splice.JoinOptions{IdleTimeout: p.cfg.IdleTimeout, Pool: p.cfg.Pool})
	be.Release() // before the access log line, which marks the end of the connection
	if um != nil {
		um.bytesUp.Add(float64(stats.AToB))
		um.bytesDn.Add(float64(stats.BToA))
	}
	reason := closeReason(err)
	if reason != "" && m != nil {
		m.failed(reason)
	}
	if p.cfg.AccessLog {
		p.accessLog(d, be.Addr, sni, stats, connectDur, tries, reason, err)
	}
}

// accessLog writes the line of a closed connection.
func (p *Proxy) accessLog(d *vstream.Digest, upstream, sni string, stats splice.Stats, connect time.Duration, tries int, reason string, err error) {
	attrs := []any{
		"client", addrString(d.ClientAddr),
		"upstream", upstream,
		"bytes_up", stats.AToB,
		"bytes_down", stats.BToA,
		"duration", time.Since(d.AcceptTime).Round(time.Microsecond),
		"connect", connect.Round(time.Microsecond),
		"tries", tries,
	}
	if ti := d.TLSInfo; ti != nil {
		attrs = append(attrs, "tls", ti.Version, "sni", ti.ServerName, "ja4", ti.JA4)
	} else if sni != "" {
		attrs = append(attrs, "sni", sni)
	}
	if reason != "" {
		attrs = append(attrs, "close", reason, "error", err)
	}
	p.log.Info("connection closed", attrs...)
}

// hashKey is the hash policy's key for d: the caller's, else the client IP.
func (p *Proxy) hashKey(d *vstream.Digest) []byte {
	if p.cfg.HashKey != nil {
		return p.cfg.HashKey(d)
	}
	return lb.AppendClientKey(nil, d.ClientAddr)
}

// closeReason classifies how a relay ended; "" for a clean close.
func closeReason(err error) string {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, splice.ErrIdleTimeout):
		return "idle_timeout"
	case errors.Is(err, context.Canceled):
		return "shutdown"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return "reset"
	case errors.Is(err, os.ErrDeadlineExceeded):
		return "timeout"
	default:
		return "error"
	}
}
