package proxyproto

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"

	pp "github.com/pires/go-proxyproto"

	"github.com/sluice-proxy/sluice/vstream"
)

// Format renders a PROXY header of the given version (1 or 2) announcing a
// connection from src to dst, for sending to an upstream right after
// connecting and before any client byte.
//
// Addresses: two *net.TCPAddr give TCP4 when both are IPv4 (IPv4-mapped
// addresses count as IPv4) and TCP6 otherwise, the IPv4 side then written as
// ::ffff:a.b.c.d so the client address is never lost; zones are dropped. In
// v2, two *net.UDPAddr give UDP4/UDP6 the same way. Anything else (nil, Unix
// or virtual addresses, TCP mixed with UDP, UDP in v1) cannot be announced:
// v1 writes "PROXY UNKNOWN\r\n" and v2 a LOCAL command with the UNSPEC family,
// and either tells the receiver to use the connection's own addresses.
//
// TLVs are v2 only; passing any with version 1 is an error, as is a TLV
// longer than 65535 bytes or a v2 header longer than 16+65535 bytes.
func Format(version int, src, dst net.Addr, tlvs []vstream.TLV) ([]byte, error) {
	h, err := newPPHeader(version, src, dst, tlvs)
	if err != nil {
		return nil, err
	}
	b, err := h.Format()
	if err != nil {
		return nil, fmt.Errorf("proxyproto: formatting v%d header: %w", version, err)
	}
	return b, nil
}

// WriteHeader formats a header as Format does and writes it to w in a single
// Write, as the spec asks of senders.
func WriteHeader(w io.Writer, version int, src, dst net.Addr, tlvs []vstream.TLV) error {
	b, err := Format(version, src, dst, tlvs)
	if err != nil {
		return err
	}
	n, err := w.Write(b)
	if err == nil && n != len(b) {
		err = io.ErrShortWrite
	}
	if err != nil {
		return fmt.Errorf("proxyproto: writing header: %w", err)
	}
	return nil
}

// ParseVersion parses a configured PROXY version for sending: "" (off) gives
// 0, "v1" or "1" gives 1, "v2" or "2" gives 2.
func ParseVersion(s string) (int, error) {
	switch s {
	case "":
		return 0, nil
	case "v1", "1":
		return 1, nil
	case "v2", "2":
		return 2, nil
	}
	return 0, fmt.Errorf("proxyproto: unknown PROXY protocol version %q (want \"v1\" or \"v2\")", s)
}

// newPPHeader builds the go-proxyproto header Format renders.
func newPPHeader(version int, src, dst net.Addr, tlvs []vstream.TLV) (*pp.Header, error) {
	if version != 1 && version != 2 {
		return nil, fmt.Errorf("proxyproto: cannot format version %d: %w", version, pp.ErrUnknownProxyProtocolVersion)
	}
	if version == 1 && len(tlvs) > 0 {
		return nil, errors.New("proxyproto: TLVs need version 2")
	}
	h := &pp.Header{Version: byte(version), Command: pp.LOCAL, TransportProtocol: pp.UNSPEC}
	if len(tlvs) > 0 {
		ptlvs := make([]pp.TLV, len(tlvs))
		for i, t := range tlvs {
			ptlvs[i] = pp.TLV{Type: pp.PP2Type(t.Type), Value: t.Value}
		}
		if err := h.SetTLVs(ptlvs); err != nil {
			return nil, fmt.Errorf("proxyproto: %w", err)
		}
	}
	srcNet, sip, sport, sok := ipEndpoint(src)
	dstNet, dip, dport, dok := ipEndpoint(dst)
	if !sok || !dok || srcNet != dstNet || (srcNet == "udp" && version == 1) {
		return h, nil // UNKNOWN or LOCAL/UNSPEC
	}
	v4 := sip.Is4() && dip.Is4()
	if !v4 {
		sip, dip = netip.AddrFrom16(sip.As16()), netip.AddrFrom16(dip.As16())
	}
	h.Command = pp.PROXY
	switch {
	case srcNet == "tcp" && v4:
		h.TransportProtocol = pp.TCPv4
	case srcNet == "tcp":
		h.TransportProtocol = pp.TCPv6
	case v4:
		h.TransportProtocol = pp.UDPv4
	default:
		h.TransportProtocol = pp.UDPv6
	}
	if srcNet == "udp" {
		h.SourceAddr = &net.UDPAddr{IP: sip.AsSlice(), Port: sport}
		h.DestinationAddr = &net.UDPAddr{IP: dip.AsSlice(), Port: dport}
	} else {
		h.SourceAddr = &net.TCPAddr{IP: sip.AsSlice(), Port: sport}
		h.DestinationAddr = &net.TCPAddr{IP: dip.AsSlice(), Port: dport}
	}
	return h, nil
}

// ipEndpoint takes a TCP or UDP address apart, unmapping IPv4-in-IPv6 and
// dropping the zone.
func ipEndpoint(a net.Addr) (network string, ip netip.Addr, port int, ok bool) {
	switch a := a.(type) {
	case *net.TCPAddr:
		if a != nil {
			network, ip, port = "tcp", netipAddr(a.IP), a.Port
		}
	case *net.UDPAddr:
		if a != nil {
			network, ip, port = "udp", netipAddr(a.IP), a.Port
		}
	}
	return network, ip, port, ip.IsValid()
}

func netipAddr(ip net.IP) netip.Addr {
	a, _ := netip.AddrFromSlice(ip)
	return a.Unmap()
}
