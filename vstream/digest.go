package vstream

import (
	"crypto/tls"
	"net"
	"net/netip"
	"time"
)

// TLV is one type-length-value record from a PROXY protocol v2 header.
type TLV struct {
	Type  byte
	Value []byte
}

// Digest is what sluice knows about a connection beyond its bytes. The
// accepting side fills it in as the connection passes each layer; services
// and user code read it. A Digest is not safe for concurrent mutation: it is
// written during connection set-up and read afterwards.
type Digest struct {
	// AcceptTime is when the connection was accepted.
	AcceptTime time.Time
	// Listener names the listener that accepted it.
	Listener string
	// LocalAddr and RemoteAddr are the socket's own addresses.
	LocalAddr, RemoteAddr net.Addr
	// ClientAddr is the original client: the source from an accepted PROXY
	// header, otherwise RemoteAddr.
	ClientAddr net.Addr
	// ProxyDest is the destination from an accepted PROXY header, or nil.
	ProxyDest net.Addr
	// ProxyTLVs holds the TLVs of an accepted PROXY v2 header.
	ProxyTLVs []TLV
	// TLS is the connection's TLS state once a TLS layer (sluice's TLS
	// server, a QUIC connection) has completed the handshake; nil
	// otherwise. It is shared, not copied, by Clone: treat it as read-only.
	TLS *tls.ConnectionState
	// HandshakeTime is when that TLS handshake completed; zero without TLS.
	HandshakeTime time.Time
	// TLSInfo summarises the TLS handshake for logs, metrics and phases
	// (nil without TLS); set with TLS.
	TLSInfo *TLSInfo

	ext any
}

// NewDigest starts a Digest for a connection accepted now on listener.
//
// When c carries a Digest of its own (it is a Digester, as the streams of
// vmux and QUIC sessions are), the new Digest starts as a Clone of it, so
// that what the producer knew (client address, TLS state, extension) is
// kept; AcceptTime and Listener are then set anew.
func NewDigest(listener string, c net.Conn) *Digest {
	if dc, ok := c.(Digester); ok {
		if src := dc.Digest(); src != nil {
			d := src.Clone()
			d.AcceptTime, d.Listener = time.Now(), listener
			return d
		}
	}
	d := &Digest{AcceptTime: time.Now(), Listener: listener}
	if c != nil {
		d.LocalAddr, d.RemoteAddr = c.LocalAddr(), c.RemoteAddr()
		d.ClientAddr = d.RemoteAddr
	}
	return d
}

// Clone returns a copy of d that can be changed without changing d: its
// ProxyTLVs slice is copied (the values in it are shared), its TLS state and
// extension are shared.
func (d *Digest) Clone() *Digest {
	c := *d
	if d.ProxyTLVs != nil {
		c.ProxyTLVs = append([]TLV(nil), d.ProxyTLVs...)
	}
	return &c
}

// Client returns ClientAddr as a netip.AddrPort, or the zero value when it is
// not an IP address (a Unix socket, a virtual stream).
func (d *Digest) Client() netip.AddrPort { return AddrPort(d.ClientAddr) }

// AddrPort converts a TCP or UDP address to a netip.AddrPort, unmapping
// IPv4-in-IPv6. Other addresses give the zero value.
func AddrPort(a net.Addr) netip.AddrPort {
	switch a := a.(type) {
	case *net.TCPAddr:
		ap := a.AddrPort()
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	case *net.UDPAddr:
		ap := a.AddrPort()
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
	return netip.AddrPort{}
}

// SetExtension stores v as d's user extension, replacing any earlier value.
// This is the Go form of Pingora's digest extension: code that sees the
// connection early (a TLS handshake hook, a filter) leaves a value that later
// phases read back with Extension.
func SetExtension[T any](d *Digest, v T) { d.ext = v }

// Extension returns d's user extension if it holds a T.
func Extension[T any](d *Digest) (T, bool) {
	v, ok := d.ext.(T)
	return v, ok
}
