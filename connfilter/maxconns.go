package connfilter

import (
	"context"
	"net/netip"
	"sync"
	"sync/atomic"
)

// MaxConns bounds the number of connections open at once on the listeners it
// filters. It counts sockets, so it acts at StageAccept only, whatever
// AwaitingProxy says; at StageProxy it admits without counting. A refused
// connection gets reason "max_conns".
//
// MaxConns allocates nothing: its release func is made once.
type MaxConns struct {
	limit int64
	n     atomic.Int64
	rel   func()
}

// NewMaxConns returns a filter admitting at most n connections at once.
// n < 1 means no limit: connections are still counted (see Count) but never
// refused.
func NewMaxConns(n int) *MaxConns {
	m := &MaxConns{limit: int64(n)}
	m.rel = m.release
	return m
}

// Check admits the connection if fewer than the limit are open.
func (m *MaxConns) Check(_ context.Context, in *Info) (func(), error) {
	if in.Stage != StageAccept {
		return nil, nil
	}
	if n := m.n.Add(1); m.limit > 0 && n > m.limit {
		m.n.Add(-1)
		return nil, &RejectError{Filter: "max_conns", Reason: "max_conns", Client: in.Client.Addr().Unmap()}
	}
	return m.rel, nil
}

func (m *MaxConns) release() { m.n.Add(-1) }

// Count returns the number of connections admitted and not yet released.
func (m *MaxConns) Count() int { return int(m.n.Load()) }

// MaxConnsPerIP bounds the number of connections open at once from one
// client IP address. A refused connection gets reason "max_conns_per_ip".
// It judges only when [Info.ClientKnown] and the client has an IP address;
// otherwise it admits without counting.
//
// The table holds only addresses with open connections: an entry is removed
// when its count drops to zero, so it never outgrows the connections open.
type MaxConnsPerIP struct {
	limit  int32
	hash   addrHasher
	shards [numShards]perIPShard
}

type perIPShard struct {
	mu sync.Mutex
	m  map[netip.Addr]int32
	_  [48]byte // keep shards on separate cache lines
}

// NewMaxConnsPerIP returns a filter admitting at most n connections at once
// from one client address. n < 1 means no limit (connections are still
// counted).
func NewMaxConnsPerIP(n int) *MaxConnsPerIP {
	m := &MaxConnsPerIP{limit: int32(min(n, 1<<30)), hash: newAddrHasher()}
	if n < 1 {
		m.limit = 0
	}
	for i := range m.shards {
		m.shards[i].m = make(map[netip.Addr]int32)
	}
	return m
}

// Check admits the connection if its client has fewer than the limit open.
func (m *MaxConnsPerIP) Check(_ context.Context, in *Info) (func(), error) {
	ip, ok := in.clientIP()
	if !ok {
		return nil, nil
	}
	s := &m.shards[m.hash.shard(ip)]
	s.mu.Lock()
	n := s.m[ip]
	if m.limit > 0 && n >= m.limit {
		s.mu.Unlock()
		return nil, &RejectError{Filter: "max_conns_per_ip", Reason: "max_conns_per_ip", Client: ip}
	}
	s.m[ip] = n + 1
	s.mu.Unlock()
	return func() { s.release(ip) }, nil
}

func (s *perIPShard) release(ip netip.Addr) {
	s.mu.Lock()
	if n := s.m[ip] - 1; n > 0 {
		s.m[ip] = n
	} else {
		delete(s.m, ip)
	}
	s.mu.Unlock()
}

// Count returns the number of open connections from ip.
func (m *MaxConnsPerIP) Count(ip netip.Addr) int {
	ip = ip.Unmap().WithZone("")
	s := &m.shards[m.hash.shard(ip)]
	s.mu.Lock()
	defer s.mu.Unlock()
	return int(s.m[ip])
}

// Len returns the number of addresses with open connections: the size of
// the table.
func (m *MaxConnsPerIP) Len() int {
	n := 0
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.Lock()
		n += len(s.m)
		s.mu.Unlock()
	}
	return n
}

var (
	_ Filter = (*MaxConns)(nil)
	_ Filter = (*MaxConnsPerIP)(nil)
)
