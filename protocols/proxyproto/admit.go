package proxyproto

import (
	"context"
	"errors"
	"io"
	"net"

	"github.com/sluice-proxy/sluice/connfilter"
	"github.com/sluice-proxy/sluice/vstream"
)

// TrustFilter returns the accept-stage filter of a PROXY listener: a peer
// outside a.Trusted is refused before any byte is read (a receiver must
// never guess whether a header is present), with reason "proxy_untrusted".
// Put it first in the listener's chain.
func (a *Acceptor) TrustFilter() connfilter.Filter {
	return connfilter.Func(func(_ context.Context, in *connfilter.Info) (func(), error) {
		if in.Stage == connfilter.StageAccept && !a.Trusts(in.Peer.Addr()) {
			return nil, &connfilter.RejectError{Filter: "proxy_protocol", Reason: "proxy_untrusted", Client: in.Peer.Addr()}
		}
		return nil, nil
	})
}

// WithTrust chains TrustFilter in front of f (nil f: TrustFilter alone).
func (a *Acceptor) WithTrust(f connfilter.Filter) connfilter.Filter {
	if f == nil {
		return a.TrustFilter()
	}
	return connfilter.Chain(a.TrustFilter(), f)
}

// Admit reads the PROXY header from c, records it in d, and judges the
// real client with filter at connfilter.StageProxy (nil filter: no second
// judgement). It returns the connection to read the rest from and the
// filter's release (nil when there is none). On failure c is left open for
// the caller to close, and reason names the fault for metrics:
// "proxy_timeout", "proxy_missing", "proxy_closed" (closed before any byte:
// a load balancer's TCP check), "proxy_invalid", or the filter's reason.
func (a *Acceptor) Admit(ctx context.Context, c net.Conn, d *vstream.Digest, filter connfilter.Filter) (conn net.Conn, release func(), reason string, err error) {
	pc, hdr, err := a.Accept(c)
	if err != nil {
		return nil, nil, headerReason(err), err
	}
	hdr.Apply(d)
	if filter == nil {
		return pc, nil, "", nil
	}
	in := &connfilter.Info{
		Listener: d.Listener,
		Local:    vstream.AddrPort(d.LocalAddr),
		Peer:     vstream.AddrPort(d.RemoteAddr),
		Client:   d.Client(),
		Stage:    connfilter.StageProxy,
	}
	rel, err := filter.Check(ctx, in)
	if err != nil {
		return nil, nil, connfilter.Reason(err), err
	}
	return pc, rel, "", nil
}

// headerReason names a header fault for metrics.
func headerReason(err error) string {
	switch {
	case errors.Is(err, ErrTimeout):
		return "proxy_timeout"
	case errors.Is(err, ErrNoHeader):
		return "proxy_missing"
	case errors.Is(err, io.EOF):
		return "proxy_closed"
	default:
		return "proxy_invalid"
	}
}
