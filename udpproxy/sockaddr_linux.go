package udpproxy

import (
	"net/netip"
	"unsafe"

	"golang.org/x/sys/unix"
)

// rawSockaddr is an IPv4 or IPv6 socket address in the kernel's layout, as
// recvmmsg fills it and sendmmsg and connect take it: an IPv4 address uses
// the RawSockaddrInet4 layout in the first bytes.
type rawSockaddr struct {
	sa  unix.RawSockaddrInet6
	len uint32
}

// rawFromAddrPort builds the socket address of ap for a socket of the given
// family: an IPv4 address on an IPv6 socket is written IPv4-mapped.
func rawFromAddrPort(ap netip.AddrPort, v6sock bool) rawSockaddr {
	var r rawSockaddr
	ip := ap.Addr().Unmap()
	if ip.Is4() && !v6sock {
		sa := (*unix.RawSockaddrInet4)(unsafe.Pointer(&r.sa))
		sa.Family = unix.AF_INET
		putPort(&sa.Port, ap.Port())
		sa.Addr = ip.As4()
		r.len = unix.SizeofSockaddrInet4
		return r
	}
	r.sa.Family = unix.AF_INET6
	putPort(&r.sa.Port, ap.Port())
	r.sa.Addr = ip.As16()
	r.len = unix.SizeofSockaddrInet6
	return r
}

// ptr returns the address for a msghdr's msg_name or connect(2).
func (r *rawSockaddr) ptr() *byte { return (*byte)(unsafe.Pointer(&r.sa)) }

// putPort stores a port in network byte order.
func putPort(p *uint16, port uint16) {
	b := (*[2]byte)(unsafe.Pointer(p))
	b[0], b[1] = byte(port>>8), byte(port)
}

// getPort reads a port stored in network byte order.
func getPort(p *uint16) uint16 {
	b := (*[2]byte)(unsafe.Pointer(p))
	return uint16(b[0])<<8 | uint16(b[1])
}

// clientKey identifies a session: the client's address and port (IPv4
// stored IPv4-mapped, with the IPv6 scope) and the listen address it sent to.
// It is a plain comparable value, cheap to hash.
type clientKey struct {
	ip     [16]byte
	scope  uint32
	port   uint16
	listen uint16
}

// keyFromRaw reads the client address recvmmsg wrote. ok is false for
// anything but an IPv4 or IPv6 address.
func keyFromRaw(sa *unix.RawSockaddrInet6, namelen uint32, listen int) (k clientKey, ok bool) {
	k.listen = uint16(listen)
	switch {
	case sa.Family == unix.AF_INET && namelen >= unix.SizeofSockaddrInet4:
		sa4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		k.ip[10], k.ip[11] = 0xff, 0xff
		copy(k.ip[12:], sa4.Addr[:])
		k.port = getPort(&sa4.Port)
		return k, true
	case sa.Family == unix.AF_INET6 && namelen >= unix.SizeofSockaddrInet6:
		k.ip = sa.Addr
		k.scope = sa.Scope_id
		k.port = getPort(&sa.Port)
		return k, true
	}
	return k, false
}

// addrPort returns the client as a netip.AddrPort, IPv4 unmapped and without
// zone: what filters, the balancer and logs see.
func (k *clientKey) addrPort() netip.AddrPort {
	return netip.AddrPortFrom(netip.AddrFrom16(k.ip).Unmap(), k.port)
}
