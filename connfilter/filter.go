package connfilter

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
)

// Stage says when a Filter is asked about a connection.
type Stage uint8

const (
	// StageAccept is right after accept, before any byte is read.
	StageAccept Stage = iota
	// StageProxy is after a PROXY header has named the real client.
	StageProxy
	// StageHello is after a TLS ClientHello has been read (and before any
	// key exchange): Info.Hello says what the client asked for. The
	// built-ins, which judged at the earlier stages, pass here; filters on
	// server names, protocols and fingerprints act here.
	StageHello
)

// String returns "accept", "proxy" or "hello".
func (s Stage) String() string {
	switch s {
	case StageAccept:
		return "accept"
	case StageProxy:
		return "proxy"
	case StageHello:
		return "hello"
	}
	return fmt.Sprintf("Stage(%d)", uint8(s))
}

// Info describes the connection a Filter judges.
type Info struct {
	// Listener names the listener that accepted the connection.
	Listener string
	// Local and Peer are the socket's addresses; zero for connections that
	// are not over IP (Unix sockets, virtual streams).
	Local, Peer netip.AddrPort
	// Client is the client being judged: Peer at StageAccept, the source
	// address from the PROXY header at StageProxy.
	Client netip.AddrPort
	// Stage says when the filter is being asked.
	Stage Stage
	// AwaitingProxy is set at StageAccept when the peer is trusted to send a
	// PROXY header, so Client is only the proxy; the filters will be asked
	// again at StageProxy with the real client.
	AwaitingProxy bool
	// Hello is what the client's TLS ClientHello asked for, at StageHello;
	// nil at the other stages.
	Hello *Hello
}

// Hello is the part of a TLS ClientHello a filter judges.
type Hello struct {
	// ServerName is the SNI host name, lower-cased; empty without SNI.
	ServerName string
	// ALPN lists the protocols the client offered, in its order.
	ALPN []string
	// JA4 is the hello's JA4 fingerprint.
	JA4 string
}

// ClientKnown reports whether Client is the real client, seen for the
// first time: at StageProxy, or at StageAccept when no PROXY header is
// awaited. Per-client filters judge only when it is true (so never twice,
// and never at StageHello).
func (in *Info) ClientKnown() bool {
	return in.Stage == StageProxy || (in.Stage == StageAccept && !in.AwaitingProxy)
}

// clientIP returns the client's IP address, unmapped and without zone, and
// whether a per-client filter should judge it now.
func (in *Info) clientIP() (netip.Addr, bool) {
	if !in.ClientKnown() {
		return netip.Addr{}, false
	}
	a := in.Client.Addr()
	if !a.IsValid() {
		return a, false
	}
	return a.Unmap().WithZone(""), true
}

// Filter judges a new connection.
//
// Check returns a release func or an error. A non-nil release must be called
// exactly once, when the admitted connection closes; it is how counting
// filters give back what they took. Rejections are *RejectError; other
// errors mean the filter itself failed, and the connection is refused too.
// Check must honour ctx and should not block: it runs before the connection
// is served, and the caller bounds it with a deadline.
type Filter interface {
	Check(ctx context.Context, in *Info) (release func(), err error)
}

// Func adapts a function to a Filter.
type Func func(ctx context.Context, in *Info) (release func(), err error)

// Check calls f.
func (f Func) Check(ctx context.Context, in *Info) (func(), error) { return f(ctx, in) }

// RejectError is the error a Filter returns when it refuses a connection.
type RejectError struct {
	// Filter names the filter that refused: "cidr", "max_conns", ….
	Filter string
	// Reason is a short label fit for a metric: "deny", "not_allowed",
	// "max_conns", "max_conns_per_ip", "rate_limit", "filter_timeout", ….
	Reason string
	// Client is the refused client's address, when it has one.
	Client netip.Addr
}

// Error describes the rejection.
func (e *RejectError) Error() string {
	if e.Client.IsValid() {
		return "connfilter: " + e.Filter + " rejected " + e.Client.String() + ": " + e.Reason
	}
	return "connfilter: " + e.Filter + " rejected connection: " + e.Reason
}

// Reason returns the Reason of the *RejectError in err's chain, or "error"
// when err is not a rejection, or "" when err is nil. It gives a metric label
// for any error a Filter returns.
func Reason(err error) string {
	if err == nil {
		return ""
	}
	var re *RejectError
	if errors.As(err, &re) {
		return re.Reason
	}
	return "error"
}

var (
	_ Filter = Func(nil)
	_ error  = (*RejectError)(nil)
)
