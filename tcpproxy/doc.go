// Package tcpproxy is sluice's TCP forwarding service: listener → connection
// filters → optional PROXY header in → an upstream chosen by lb (with
// failover) → optional PROXY header out → splice.Join.
//
// Typical usage:
//
//	bal, _ := lb.New([]lb.BackendConfig{{Addr: "10.0.0.5:5432"}}, lb.RoundRobin)
//	p, _ := tcpproxy.New(tcpproxy.Config{Name: "pg", Balancer: bal})
//	ln, _ := net.Listen("tcp", "127.0.0.1:5432")
//	go p.Serve(ctx, ln)
//	...
//	p.Shutdown(graceCtx) // stop accepting, drain, then close what is left
//
// The upstream is dialled as soon as a connection passes the filters (and
// its PROXY header, when configured), without waiting for client bytes, and
// an outgoing PROXY header is written on connect, so server-first protocols
// (SMTP, MySQL, PostgreSQL's SSL negotiation aside) work. Bytes move with
// splice(2) when both ends are sockets.
package tcpproxy
