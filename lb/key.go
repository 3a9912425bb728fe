package lb

import (
	"net"
	"net/netip"
)

// AppendClientKey appends a hash key for a client address to dst and
// returns the extended slice: the IP alone (no port), IPv4 always in its
// 4-byte form, so a client hashes to the same backend over TCP and UDP and
// whether or not it arrived through a dual-stack socket. Addresses other than
// *net.TCPAddr, *net.UDPAddr and *net.IPAddr append addr.String(). With a
// reused dst it allocates nothing for the common address types.
func AppendClientKey(dst []byte, addr net.Addr) []byte {
	var ip net.IP
	switch a := addr.(type) {
	case *net.TCPAddr:
		ip = a.IP
	case *net.UDPAddr:
		ip = a.IP
	case *net.IPAddr:
		ip = a.IP
	case nil:
		return dst
	default:
		return append(dst, a.String()...)
	}
	if v4 := ip.To4(); v4 != nil {
		return append(dst, v4...)
	}
	return append(dst, ip...)
}

// AppendIPKey is AppendClientKey for a netip.Addr (what UDP proxies built on
// netip.AddrPort hold): the same bytes for the same IP, zone dropped.
func AppendIPKey(dst []byte, ip netip.Addr) []byte {
	ip = ip.Unmap()
	if ip.Is4() {
		a := ip.As4()
		return append(dst, a[:]...)
	}
	if ip.Is6() {
		a := ip.As16()
		return append(dst, a[:]...)
	}
	return dst
}
