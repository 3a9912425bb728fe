// Package lb chooses upstream backends for sluice's proxies: selection
// policies (smooth weighted round robin, power-of-two-choices random,
// least connections, ketama consistent hashing), failover dialing, passive
// health from real traffic and active health checks.
//
// One Balancer serves a TCP proxy (a pick per connection), a UDP proxy (a
// pick per session, keyed by the client address) and an HTTP proxy (a pick
// per request) alike:
//
//	bal, err := lb.New([]lb.BackendConfig{{Addr: "10.0.0.1:80"}, {Addr: "10.0.0.2:80", Weight: 2}}, lb.RoundRobin)
//	if err != nil { ... }
//	go bal.RunHealthChecks(ctx, lb.HealthCheck{Interval: 2 * time.Second})
//
//	dial := lb.NetDialer(&net.Dialer{Timeout: time.Second}, "tcp")
//	conn, be, _, err := bal.Dial(ctx, nil, dial, lb.Failover{Budget: 3 * time.Second})
//	if err != nil { ... }       // every attempt failed; err wraps lb.ErrAllFailed
//	defer be.Release()          // Dial Acquired it for least_conn's count
//
// A caller that dials by itself brackets each connection or request with
// [Backend.Acquire] and [Backend.Release], and reports the outcome with
// [Balancer.ReportFailure] and [Balancer.ReportSuccess].
//
// # Health
//
// Backends start healthy unless [WithInitialHealth](false) says otherwise.
// Passive health: FailThreshold consecutive reported failures (default 3)
// take a backend down for a cooldown (default 10s); after the cooldown it is
// tried again, and one more failure takes it down again (like a circuit
// breaker's half-open state) while a success resets the count. While
// [Balancer.RunHealthChecks] runs, a passively failed backend stays down until
// the active checks bring it back instead of waiting for a cooldown. Active
// checks flip a backend after Rise consecutive successful probes or Fall
// consecutive failed ones.
//
// When no backend is healthy, Pick fails with [ErrNoBackend] (HAProxy's
// behaviour). [WithAllDownFallback] selects nginx's behaviour instead: if every
// backend is down, pick among all of them.
//
// Every health flip, active or passive, is reported to the [OnHealthChange]
// observer.
package lb
