package httpproxy

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/quic-go/quic-go/http3"
	xh2 "golang.org/x/net/http2"
)

// h2Pool holds the HTTP/2 connections to upstreams, shared by every request
// (and every Service that shares the Pool): a request takes a stream on a
// connection that has one free, within the peer's
// SETTINGS_MAX_CONCURRENT_STREAMS and Peer.MaxStreams, and a connection is
// dialled only when all are full. The connections are x/net's client
// (net/http's ClientConn refuses extended CONNECT, golang/go#71128). One dial runs at a time per peer; the
// requests that arrive meanwhile wait for it and share it.
type h2Pool struct {
	mu     sync.Mutex
	peers  map[h2Key]*h2Peer
	closed bool
	bufs   sync.Pool // *[]byte of h2CopyBuf bytes: response body copies
	h3     map[h2Key]*http3.Transport
}

// h3Transport returns the transport of an HTTP/3 peer, which keeps its
// QUIC connections.
func (p *h2Pool) h3Transport(k h2Key, peer *Peer) (*http3.Transport, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, errors.New("httpproxy: pool closed")
	}
	if tr := p.h3[k]; tr != nil {
		return tr, nil
	}
	if peer.TLS == nil {
		return nil, wrapKind(ErrUpstreamTLS, fmt.Errorf("%w: %s: HTTP/3 needs Peer.TLS", ErrConnect, peer.Addr))
	}
	if p.h3 == nil {
		p.h3 = make(map[h2Key]*http3.Transport)
	}
	tr := &http3.Transport{TLSClientConfig: peer.TLS.Clone(), DisableCompression: true}
	p.h3[k] = tr
	return tr, nil
}

// h2CopyBuf is the buffer a response body is copied through (one default
// DATA frame).
const h2CopyBuf = 16 << 10

// buf returns a copy buffer; give it back with putBuf.
func (p *h2Pool) buf() *[]byte {
	if b, ok := p.bufs.Get().(*[]byte); ok {
		return b
	}
	b := make([]byte, h2CopyBuf)
	return &b
}

func (p *h2Pool) putBuf(b *[]byte) { p.bufs.Put(b) }

// h2Key names the connections a peer's requests may share.
type h2Key struct {
	poolKey
	proto      Protocol
	maxStreams int
	ping       time.Duration
}

// h2Peer is one key's connections.
type h2Peer struct {
	tr      *xh2.Transport // starts HTTP/2 on the sockets we dial
	conns   []*xh2.ClientConn
	dialing chan struct{} // while a dial runs; closed when it ends
	h1      bool          // Auto, and ALPN chose http/1.1
}

// errH1 says an Auto peer's ALPN chose HTTP/1.1: the request goes on the
// connection acquire returned as an HTTP/1.1 one.
var errH1 = errors.New("httpproxy: ALPN chose http/1.1")

func newH2Transport(k h2Key) *xh2.Transport {
	tr := &xh2.Transport{DisableCompression: true}
	if k.ping > 0 {
		tr.ReadIdleTimeout = k.ping
		tr.PingTimeout = max(k.ping, time.Second)
	}
	return tr
}

// acquire returns a connection with a stream reserved for one request
// (RoundTrip or Release consumes it). dial makes a new connection to the
// peer, TLS included. For an Auto peer whose ALPN picked HTTP/1.1 it
// returns errH1, with the connection it has just dialled if it did.
func (p *h2Pool) acquire(ctx context.Context, k h2Key, dial func(ctx context.Context) (net.Conn, error)) (*xh2.ClientConn, net.Conn, error) {
	for {
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			return nil, nil, errors.New("httpproxy: pool closed")
		}
		if p.peers == nil {
			p.peers = make(map[h2Key]*h2Peer)
		}
		hp := p.peers[k]
		if hp == nil {
			hp = &h2Peer{tr: newH2Transport(k)}
			p.peers[k] = hp
		}
		if cc := hp.reserveLocked(k.maxStreams); cc != nil {
			p.mu.Unlock()
			return cc, nil, nil
		}
		if hp.h1 {
			p.mu.Unlock()
			return nil, nil, errH1
		}
		if wait := hp.dialing; wait != nil {
			p.mu.Unlock()
			select {
			case <-wait:
				continue
			case <-ctx.Done():
				return nil, nil, ctx.Err()
			}
		}
		done := make(chan struct{})
		hp.dialing = done
		p.mu.Unlock()

		cc, c, err := p.connect(ctx, k, hp, dial)
		p.mu.Lock()
		hp.dialing = nil
		close(done)
		if cc != nil && !p.closed {
			hp.conns = append(hp.conns, cc)
		}
		closed := p.closed
		p.mu.Unlock()
		switch {
		case errors.Is(err, errH1):
			return nil, c, err
		case err != nil:
			return nil, nil, err
		case closed:
			cc.Close()
			return nil, nil, errors.New("httpproxy: pool closed")
		}
		// Loop: the new connection is reserved like any other, so that
		// the requests that waited for it get their share.
	}
}

// reserveLocked reserves a stream on a live connection with one free,
// dropping dead connections; nil when none has room.
func (hp *h2Peer) reserveLocked(maxStreams int) *xh2.ClientConn {
	hp.conns = slices.DeleteFunc(hp.conns, func(cc *xh2.ClientConn) bool {
		st := cc.State()
		return st.Closed || st.Closing
	})
	for _, cc := range hp.conns {
		if st := cc.State(); maxStreams > 0 && st.StreamsActive+st.StreamsReserved+st.StreamsPending >= maxStreams {
			continue
		}
		if cc.ReserveNewRequest() {
			return cc
		}
	}
	return nil
}

// release gives back a stream reserved on cc and not used (x/net's way: a
// RoundTrip of an empty request).
func release(cc *xh2.ClientConn) { cc.RoundTrip(new(http.Request)) }

// connect dials a new connection and starts HTTP/2 on it.
func (p *h2Pool) connect(ctx context.Context, k h2Key, hp *h2Peer, dial func(ctx context.Context) (net.Conn, error)) (*xh2.ClientConn, net.Conn, error) {
	c, err := dial(ctx)
	if err != nil {
		return nil, nil, err
	}
	if tc, ok := c.(*tls.Conn); ok {
		if tc.ConnectionState().NegotiatedProtocol != "h2" {
			if k.proto == Auto {
				p.mu.Lock()
				hp.h1 = true
				p.mu.Unlock()
				return nil, c, errH1
			}
			c.Close()
			return nil, nil, wrapKind(ErrUpstreamTLS, fmt.Errorf("%w: %s: ALPN did not choose h2", ErrConnect, k.addr))
		}
	}
	cc, err := hp.tr.NewClientConn(c)
	if err != nil {
		c.Close()
		return nil, nil, wrapKind(ErrConnect, fmt.Errorf("%s: starting HTTP/2: %w", k.addr, err))
	}
	return cc, nil, nil
}

// count returns the live HTTP/2 connections.
func (p *h2Pool) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, hp := range p.peers {
		for _, cc := range hp.conns {
			if !cc.State().Closed {
				n++
			}
		}
	}
	return n
}

// close closes every connection; acquire fails afterwards.
func (p *h2Pool) close() {
	p.mu.Lock()
	p.closed = true
	var all []*xh2.ClientConn
	for _, hp := range p.peers {
		all = append(all, hp.conns...)
		hp.conns = nil
	}
	h3 := p.h3
	p.h3 = nil
	p.mu.Unlock()
	for _, tr := range h3 {
		tr.Close()
	}
	for _, cc := range all {
		cc.Close()
	}
}
