package proxyproto

import (
	"fmt"
	"net"
	"net/netip"

	pp "github.com/pires/go-proxyproto"

	"github.com/sluice-proxy/sluice/vstream"
)

// Transport names used in [Header.Transport]. They are Go network names.
const (
	TransportTCP4     = "tcp4"     // TCP over IPv4
	TransportTCP6     = "tcp6"     // TCP over IPv6
	TransportUDP4     = "udp4"     // UDP over IPv4 (v2 only)
	TransportUDP6     = "udp6"     // UDP over IPv6 (v2 only)
	TransportUnix     = "unix"     // Unix stream socket (v2 only)
	TransportUnixgram = "unixgram" // Unix datagram socket (v2 only)
)

// Header is an accepted PROXY header.
type Header struct {
	// Version is 1 (text) or 2 (binary).
	Version int
	// Local is true when the header carries no addresses to use: a v2 LOCAL
	// command (a load balancer's own connection, such as a health check) or a
	// v1 "PROXY UNKNOWN" line. The connection keeps its socket addresses.
	Local bool
	// Transport is the original connection's network as the header declares
	// it: one of the Transport constants, or "" when Local. A "tcp6" header
	// may carry IPv4-mapped addresses, which Source and Dest report unmapped.
	Transport string
	// Source and Dest are the original client and the address it connected
	// to, IPv4-in-IPv6 unmapped. They are the zero value when Local and for
	// the Unix families, whose names are in [Header.SourceAddr] and
	// [Header.DestAddr].
	Source, Dest netip.AddrPort
	// TLVs are the v2 type-length-value records in wire order, without
	// PP2_TYPE_NOOP padding. Nil for v1.
	TLVs []vstream.TLV

	src, dst net.Addr
}

// SourceAddr returns the original client as a net.Addr (*net.TCPAddr,
// *net.UDPAddr or *net.UnixAddr by Transport), or nil when Local.
func (h *Header) SourceAddr() net.Addr { return h.src }

// DestAddr returns the address the original client connected to, as a
// net.Addr of the same kind as SourceAddr, or nil when Local.
func (h *Header) DestAddr() net.Addr { return h.dst }

// Apply records the header in d: ClientAddr becomes the PROXY source,
// ProxyDest the PROXY destination and ProxyTLVs the TLVs. A Local header
// leaves ClientAddr and ProxyDest as they are (the socket's own addresses) and
// records only its TLVs.
func (h *Header) Apply(d *vstream.Digest) {
	if h == nil || d == nil {
		return
	}
	if !h.Local && h.src != nil {
		d.ClientAddr = h.src
		d.ProxyDest = h.dst
	}
	d.ProxyTLVs = h.TLVs
}

// newHeader converts a header parsed by go-proxyproto.
func newHeader(ph *pp.Header) (*Header, error) {
	h := &Header{Version: int(ph.Version), Local: ph.Command.IsLocal()}
	if ph.Version != 1 && ph.Version != 2 {
		return nil, fmt.Errorf("%w: version %d", ErrInvalidHeader, ph.Version)
	}
	tlvs, err := ph.TLVs()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidHeader, err)
	}
	for _, t := range tlvs {
		if t.Type == pp.PP2_TYPE_NOOP {
			continue
		}
		h.TLVs = append(h.TLVs, vstream.TLV{Type: byte(t.Type), Value: t.Value})
	}
	if h.Local {
		return h, nil
	}
	switch ph.TransportProtocol {
	case pp.TCPv4, pp.TCPv6:
		src, dst, ok := ph.TCPAddrs()
		if !ok {
			return nil, fmt.Errorf("%w: %w", ErrInvalidHeader, pp.ErrInvalidAddress)
		}
		h.Source, h.Dest = vstream.AddrPort(src), vstream.AddrPort(dst)
		h.src, h.dst = net.TCPAddrFromAddrPort(h.Source), net.TCPAddrFromAddrPort(h.Dest)
	case pp.UDPv4, pp.UDPv6:
		src, dst, ok := ph.UDPAddrs()
		if !ok {
			return nil, fmt.Errorf("%w: %w", ErrInvalidHeader, pp.ErrInvalidAddress)
		}
		h.Source, h.Dest = vstream.AddrPort(src), vstream.AddrPort(dst)
		h.src, h.dst = net.UDPAddrFromAddrPort(h.Source), net.UDPAddrFromAddrPort(h.Dest)
	case pp.UnixStream, pp.UnixDatagram:
		src, dst, ok := ph.UnixAddrs()
		if !ok {
			return nil, fmt.Errorf("%w: %w", ErrInvalidHeader, pp.ErrInvalidAddress)
		}
		h.src, h.dst = src, dst
	default:
		return nil, fmt.Errorf("%w: %w", ErrInvalidHeader, pp.ErrUnsupportedAddressFamilyAndProtocol)
	}
	h.Transport = transportName(ph.TransportProtocol)
	if h.Transport != TransportUnix && h.Transport != TransportUnixgram &&
		(!h.Source.Addr().IsValid() || !h.Dest.Addr().IsValid()) {
		return nil, fmt.Errorf("%w: %w", ErrInvalidHeader, pp.ErrInvalidAddress)
	}
	return h, nil
}

// transportName maps go-proxyproto's family and transport byte to the names
// in Header.Transport.
func transportName(tp pp.AddressFamilyAndProtocol) string {
	switch tp {
	case pp.TCPv4:
		return TransportTCP4
	case pp.TCPv6:
		return TransportTCP6
	case pp.UDPv4:
		return TransportUDP4
	case pp.UDPv6:
		return TransportUDP6
	case pp.UnixStream:
		return TransportUnix
	case pp.UnixDatagram:
		return TransportUnixgram
	}
	return ""
}
