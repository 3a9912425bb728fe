package udpproxy

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// listenSocket is one worker's socket on one listen address.
type listenSocket struct {
	fd      int
	idx     int            // index in Config.Listen
	v6      bool           // an AF_INET6 socket
	pktinfo bool           // a wildcard address: learn each datagram's destination, reply from it
	local   netip.AddrPort // the bound address
}

// sockets are the bound listening sockets: socks[worker][listen index],
// and what the kernel offers.
type sockets struct {
	socks    [][]*listenSocket
	gro, gso bool
}

// bind opens and binds every listening socket. Called with p.mu held.
func (p *Proxy) bind() (err error) {
	s := &p.socks
	s.socks = make([][]*listenSocket, p.workers)
	defer func() {
		if err != nil {
			p.unbind()
		}
	}()
	s.gso, s.gro = !p.cfg.DisableOffload, !p.cfg.DisableOffload && p.bufSize >= 65535
	p.addrs = p.addrs[:0]
	for i, ap := range p.listen {
		for w := 0; w < p.workers; w++ {
			ls, err := p.bindOne(i, ap, w == 0)
			if err != nil {
				return fmt.Errorf("listen %s: %w", ap, err)
			}
			s.socks[w] = append(s.socks[w], ls)
			if w == 0 {
				ap = ls.local // later workers share the port the first one got
				p.addrs = append(p.addrs, net.UDPAddrFromAddrPort(ap))
			}
		}
	}
	p.metrics.setOffload(s.gro, s.gso)
	return nil
}

// unbind closes every listening socket. Called with p.mu held.
func (p *Proxy) unbind() {
	for _, ws := range p.socks.socks {
		for _, ls := range ws {
			unix.Close(ls.fd)
		}
	}
	p.socks.socks = nil
}

// bindOne opens one non-blocking listening socket on ap. The first socket
// of an address also probes for GRO and GSO.
func (p *Proxy) bindOne(idx int, ap netip.AddrPort, probe bool) (*listenSocket, error) {
	ip := ap.Addr()
	ls := &listenSocket{idx: idx, v6: ip.Is6(), pktinfo: ip.IsUnspecified()}
	family := unix.AF_INET
	if ls.v6 {
		family = unix.AF_INET6
	}
	fd, err := unix.Socket(family, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, unix.IPPROTO_UDP)
	if err != nil {
		return nil, os.NewSyscallError("socket", err)
	}
	ls.fd = fd
	fail := func(what string, err error) (*listenSocket, error) {
		unix.Close(fd)
		return nil, os.NewSyscallError(what, err)
	}
	if p.workers > 1 {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEPORT, 1); err != nil {
			return fail("setsockopt SO_REUSEPORT", err)
		}
	}
	if ls.v6 && ip.IsUnspecified() {
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, 0); err != nil {
			return fail("setsockopt IPV6_V6ONLY", err)
		}
	}
	if n := p.cfg.SocketBuffer; n > 0 {
		// Best effort: the kernel caps these at rmem_max/wmem_max.
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, n)
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, n)
	}
	if ls.pktinfo {
		if ls.v6 {
			err = unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_RECVPKTINFO, 1)
		} else {
			err = unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_PKTINFO, 1)
		}
		if err != nil {
			return fail("setsockopt PKTINFO", err)
		}
	}
	if probe && p.socks.gso {
		// UDP_SEGMENT (Linux 4.18) is readable where it is supported.
		if _, err := unix.GetsockoptInt(fd, unix.IPPROTO_UDP, unix.UDP_SEGMENT); err != nil {
			p.socks.gso = false
		}
	}
	if p.socks.gro {
		// UDP_GRO (Linux 5.0): coalesced datagrams arrive with their segment
		// size, which the worker splits on.
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_UDP, unix.UDP_GRO, 1); err != nil {
			if !probe {
				return fail("setsockopt UDP_GRO", err)
			}
			p.socks.gro = false
		}
	}
	sa := rawFromAddrPort(ap, ls.v6)
	if _, _, e := unix.Syscall(unix.SYS_BIND, uintptr(fd), uintptr(unsafe.Pointer(sa.ptr())), uintptr(sa.len)); e != 0 {
		return fail("bind", e)
	}
	local, err := unix.Getsockname(fd)
	if err != nil {
		return fail("getsockname", err)
	}
	switch a := local.(type) {
	case *unix.SockaddrInet4:
		ls.local = netip.AddrPortFrom(netip.AddrFrom4(a.Addr), uint16(a.Port))
	case *unix.SockaddrInet6:
		ls.local = netip.AddrPortFrom(netip.AddrFrom16(a.Addr), uint16(a.Port))
	default:
		return fail("getsockname", errors.New("unexpected address family"))
	}
	return ls, nil
}

// dialUpstream opens the non-blocking socket of a new session, connected to
// u, so that only u's datagrams arrive on it and ICMP errors about u are
// reported on it.
func dialUpstream(u *upstream, gro bool) (int, error) {
	family := unix.AF_INET
	if u.ap.Addr().Is6() {
		family = unix.AF_INET6
	}
	fd, err := unix.Socket(family, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, unix.IPPROTO_UDP)
	if err != nil {
		return -1, os.NewSyscallError("socket", err)
	}
	if gro {
		_ = unix.SetsockoptInt(fd, unix.IPPROTO_UDP, unix.UDP_GRO, 1)
	}
	sa := rawFromAddrPort(u.ap, family == unix.AF_INET6)
	if _, _, e := unix.Syscall(unix.SYS_CONNECT, uintptr(fd), uintptr(unsafe.Pointer(sa.ptr())), uintptr(sa.len)); e != 0 {
		unix.Close(fd)
		return -1, os.NewSyscallError("connect", e)
	}
	return fd, nil
}
