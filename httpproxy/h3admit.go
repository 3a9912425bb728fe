package httpproxy

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/sluice-proxy/sluice/connfilter"
	"github.com/sluice-proxy/sluice/vstream"
)

// HTTP3Config tunes HTTP/3 serving (ServeHTTP3).
type HTTP3Config struct {
	// RetryAbove is how many new QUIC connections per second one source
	// address may open before the next ones must prove their address with
	// a Retry (RFC 9000 8.1.2: one more round trip, no state kept for a
	// spoofed source). 0 means DefaultRetryAbove; negative, Retry always.
	RetryAbove int
	// ZeroRTT accepts 0-RTT (early data) from resuming clients; requests
	// that arrive in it with a method that is not safe (RFC 9110 9.2.1:
	// GET, HEAD, OPTIONS, TRACE) are answered 425 Too Early (RFC 8470),
	// since early data can be replayed.
	ZeroRTT bool
}

// earlyAndUnsafe reports whether r came in 0-RTT data (before the
// handshake completed) with a method that may not be replayed.
func earlyAndUnsafe(r *http.Request) bool {
	if r.TLS == nil || r.TLS.HandshakeComplete {
		return false
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return false
	}
	return true
}

// DefaultRetryAbove is HTTP3Config.RetryAbove's default.
const DefaultRetryAbove = 64

// quicAdmit is quic.Transport.ConnContext: the Service's connection
// filters judge a new QUIC connection before its handshake, as they judge a
// TCP connection after accept; a refusal is counted and logged, and what a
// filter holds for the connection (a max_conns slot) is given back when the
// connection ends.
func (s *Service) quicAdmit(local net.Addr) func(ctx context.Context, addr net.Addr) (context.Context, error) {
	return func(ctx context.Context, addr net.Addr) (context.Context, error) {
		f := s.cfg.Filter
		if f == nil {
			return ctx, nil
		}
		peer := vstream.AddrPort(addr)
		in := &connfilter.Info{Listener: s.cfg.Name, Local: vstream.AddrPort(local), Peer: peer, Client: peer, Stage: connfilter.StageAccept}
		cctx, cancel := context.WithTimeout(ctx, time.Second)
		release, err := f.Check(cctx, in)
		cancel()
		if err != nil {
			if s.m != nil {
				s.m.rejected(connfilter.Reason(err))
			}
			s.log.Info("connection rejected", "service", s.cfg.Name, "reason", connfilter.Reason(err), "peer", peer.String(), "transport", "quic", "error", err)
			return nil, err
		}
		if release != nil {
			context.AfterFunc(ctx, release) // ctx ends with the connection
		}
		return ctx, nil
	}
}

// retryGate decides which new QUIC connections must validate their source
// address first: those from a source past its per-second allowance.
type retryGate struct {
	limit int // per source per second; negative: always

	mu     sync.Mutex
	second int64
	counts map[netip.Addr]int
}

// maxRetrySources bounds the sources counted in one second; past it the
// count starts over (a flood from many sources then meets the limit anew).
const maxRetrySources = 1 << 16

// verify is quic.Transport.VerifySourceAddress.
func (g *retryGate) verify(addr net.Addr) bool {
	if g.limit < 0 {
		return true
	}
	ip := vstream.AddrPort(addr).Addr()
	now := time.Now().Unix()
	g.mu.Lock()
	defer g.mu.Unlock()
	if now != g.second || len(g.counts) >= maxRetrySources {
		g.second, g.counts = now, make(map[netip.Addr]int)
	}
	g.counts[ip]++
	return g.counts[ip] > g.limit
}
