// Package udpproxy is sluice's UDP forwarding service, for DNS, QUIC,
// WireGuard, game and syslog traffic: a session table keyed by client
// address, each session bound to an upstream picked by lb (hash by client IP
// by default, so a client sticks to one backend) and to its own socket
// connected to that upstream, whose replies go back to the client from the
// address it sent to.
//
// Typical usage:
//
//	p, err := udpproxy.New(udpproxy.Config{
//		Name:      "dns",
//		Listen:    []string{"127.0.0.1:5353"},
//		Upstreams: []lb.BackendConfig{{Addr: "127.0.0.1:53"}},
//	})
//	if err != nil { ... }
//	if err := p.Listen(); err != nil { ... } // bind errors now, not later
//	go p.Serve(ctx)
//	...
//	p.Shutdown(ctx) // closes every session and socket
//
// # How datagrams move
//
// A few workers (GOMAXPROCS by default) each own one SO_REUSEPORT socket
// per listen address, a share of the session table and one epoll set
// holding those sockets and their sessions' upstream sockets. The epoll set
// is itself registered with Go's netpoller, so an idle worker parks like any
// goroutine waiting on a socket. No goroutine exists per session: an idle
// session costs a small struct, a map entry and its kernel socket (about
// 0.5 KiB of process memory, measured by bench/run-udp.sh). A worker reads with recvmmsg, up to 64 datagrams a
// call, and sends with sendmmsg: one call per session towards upstreams and
// one per listening socket towards clients. Where the kernel has them, UDP
// GRO coalesces arriving datagrams (split again on their segment size, so a
// datagram is never merged) and UDP GSO sends a run of equal-size datagrams
// to one destination as one message (never split: each segment is one of
// the original datagrams); both are probed at Listen and fall back cleanly.
//
// # Sessions
//
// A datagram from a new client address creates a session: the filters
// judge the client (CIDR lists, a per-IP session rate, a custom
// connfilter.Filter), the balancer picks the upstream, and if the worker's
// share of MaxSessions is full the least recently active session is
// evicted. A session closes after IdleTimeout without a datagram either way,
// on eviction, on an ICMP error from its upstream (ECONNREFUSED: the
// upstream's port is closed; reported to the balancer's passive health) and
// at shutdown; each close is counted and logged with the session's traffic.
//
// With ProxyOut 2, every datagram sent upstream starts with a
// PROXY v2 header naming the client and the address it sent to, as the
// PROXY protocol's UDP mode asks.
//
// Datagrams larger than MaxDatagramSize are dropped and counted as
// "truncated", never forwarded cut short. Zero-length datagrams are
// forwarded.
package udpproxy
