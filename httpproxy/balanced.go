package httpproxy

import (
	"errors"

	"github.com/sluice-proxy/sluice/lb"
)

// Balanced picks upstream peers from an lb.Balancer and keeps the
// balancer's books for every request it picked for, so that a Proxy gets
// least_conn counts, passive health and failover by returning Pick from
// its UpstreamPeer and nothing else:
//
//   - the backend picked is Acquired for the request and Released when the
//     request ends (least_conn sees requests in flight);
//   - a backend that fails to connect is reported to the balancer
//     (ReportFailure: passive health) and not picked again for the same
//     request, so the pipeline's retry fails over to another;
//   - when the request ends, an answer (of any status) is reported as a
//     success, an upstream that timed out, closed early or sent a
//     malformed response as a failure; faults of the client and of the
//     proxy itself (ErrLocalResource) are reported neither way.
//
// A Balanced is safe for concurrent use; make it once and share it.
type Balanced struct {
	bal   *lb.Balancer
	peers map[*lb.Backend]*Peer
	key   func(dst []byte, s *Session) []byte
}

// NewBalanced returns a Balanced picking from bal. peer makes the Peer of
// each backend, once, here (nil gives Peer{Addr: be.Addr}). Policies that
// take a key (lb.Hash) are given the client's IP (lb.AppendClientKey);
// WithKey sets another.
func NewBalanced(bal *lb.Balancer, peer func(be *lb.Backend) *Peer) *Balanced {
	b := &Balanced{bal: bal, peers: make(map[*lb.Backend]*Peer, len(bal.Backends()))}
	for _, be := range bal.Backends() {
		var p *Peer
		if peer != nil {
			p = peer(be)
		}
		if p == nil {
			p = &Peer{Addr: be.Addr}
		}
		b.peers[be] = p
	}
	if bal.Policy() == lb.Hash {
		b.key = func(dst []byte, s *Session) []byte { return lb.AppendClientKey(dst, s.ClientAddr()) }
	}
	return b
}

// WithKey makes key (appending a request's key to dst) the key of the
// policy's choice, for lb.Hash on a header or a cookie, say. It returns b;
// call it before b is used.
func (b *Balanced) WithKey(key func(dst []byte, s *Session) []byte) *Balanced {
	b.key = key
	return b
}

// Balancer returns the balancer b picks from (for its health checks).
func (b *Balanced) Balancer() *lb.Balancer { return b.bal }

// Pick returns the Peer of a backend for s: healthy, and not one that
// already failed to connect for this request. When every backend left has
// failed, it returns the last failure (s.LastError), which says more than
// lb.ErrNoBackend.
func (b *Balanced) Pick(s *Session) (*Peer, error) {
	pk := &s.pick
	if pk.be != nil {
		// A retry after a failure past the connect: the backend was not
		// excluded, but this request no longer uses it.
		pk.be.Release()
		pk.be = nil
	}
	var key []byte
	if b.key != nil {
		pk.key = b.key(pk.key[:0], s)
		key = pk.key
	}
	be, err := b.bal.Pick(key, pk.tried)
	if err != nil {
		if s.LastError != nil {
			return nil, s.LastError
		}
		return nil, err
	}
	be.Acquire()
	pk.be, pk.bal = be, b.bal
	return b.peers[be], nil
}

// pickState is a Session's share of Balanced's books: the backend in use
// and those that failed to connect. Its buffers outlive the request.
type pickState struct {
	bal   *lb.Balancer
	be    *lb.Backend   // Acquired for the current try
	tried []*lb.Backend // failed to connect: not picked again
	key   []byte
}

// connectFailed reports the backend in use as failed and excludes it from
// this request's next picks.
func (pk *pickState) connectFailed() {
	if pk.be == nil {
		return
	}
	pk.bal.ReportFailure(pk.be)
	pk.be.Release()
	pk.tried = append(pk.tried, pk.be)
	pk.be = nil
}

// done reports the request's outcome for the backend in use, releases
// it, and readies the state for the next request.
func (pk *pickState) done(err error) {
	if be := pk.be; be != nil {
		switch {
		case err == nil:
			pk.bal.ReportSuccess(be)
		case upstreamFault(err):
			pk.bal.ReportFailure(be)
		}
		be.Release()
	}
	clear(pk.tried)
	*pk = pickState{tried: pk.tried[:0], key: pk.key[:0]}
}

// upstreamFault reports whether err is what an upstream did after the
// connect: a timeout, an early close, a malformed response.
func upstreamFault(err error) bool {
	return errors.Is(err, ErrUpstreamTimeout) || errors.Is(err, ErrUpstreamClosed) || errors.Is(err, ErrUpstreamProtocol)
}
