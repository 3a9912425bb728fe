package connfilter

import (
	"context"
	"math"
	"net/netip"
	"sync"
	"time"
)

// DefaultRateEntries is the default hard cap on the number of client
// addresses a Rate tracks at once.
const DefaultRateEntries = 1 << 16

// Rate bounds how fast one client IP address may open connections, with a
// token bucket per address: a client starts with burst tokens, each admitted
// connection takes one, and tokens come back at perSecond per second up to
// burst. A client with no token left is refused with reason "rate_limit".
// Rate judges only when [Info.ClientKnown] and the client has an IP address;
// otherwise it admits. It returns no release func: it counts arrivals, not
// open connections.
//
// # The table
//
// A bucket that has had time to refill completely is the same as no bucket,
// so such entries are pruned: each shard of the table is swept after a number
// of inserts proportional to its size, and when it reaches its share of the
// hard cap (see [Rate.WithMaxEntries]; the cap is spread over the shards).
//
// When a shard is full and a sweep frees nothing, a new client evicts the
// least recently seen of a small random sample of the entries already there;
// Rate never refuses a client because its table is full. The choice is
// deliberate: refusing newcomers when the table is full ("rate_table_full")
// would let anyone with enough source addresses lock out every new client,
// while eviction only forgets the state of clients that have been idle
// longest — those whose buckets are closest to full anyway — so the limit
// stays close to exact and memory stays bounded (about 60 bytes an entry:
// some 4 MB at DefaultRateEntries).
type Rate struct {
	perNano   float64 // tokens per nanosecond
	burst     float64
	fullAfter int64 // nanoseconds for an empty bucket to refill
	unlimited bool
	shardCap  int

	hash   addrHasher
	now    func() time.Time // the clock; tests replace it
	base   time.Time
	shards [numShards]rateShard
}

type rateShard struct {
	mu      sync.Mutex
	m       map[netip.Addr]bucket
	inserts int // since the last sweep
}

// bucket is one client's token bucket.
type bucket struct {
	tokens float64
	last   int64 // nanoseconds since Rate.base of the last refill
}

// Burst returns the bucket size: how many connections a client may open at
// once.
func (r *Rate) Burst() int { return int(r.burst) }

// rateSample is how many entries an eviction looks at.
const rateSample = 8

// DefaultBurst is the burst of a rate limit of perSecond when none is
// given: one second's worth, rounded up, and at least 1 (2.5/s gives 3).
// Every rate limit of sluice's (TCP and HTTP accepts, UDP sessions) uses
// it.
func DefaultBurst(perSecond float64) int {
	if !(perSecond > 0) || perSecond >= math.MaxInt32 {
		return 1
	}
	return max(1, int(math.Ceil(perSecond)))
}

// NewRate returns a filter admitting, per client address, perSecond new
// connections per second on average and burst at once. perSecond ≤ 0 (or
// NaN, or +Inf) means no limit; burst ≤ 0 means DefaultBurst(perSecond).
// The table holds at most DefaultRateEntries addresses; see
// WithMaxEntries.
func NewRate(perSecond float64, burst int) *Rate {
	r := &Rate{hash: newAddrHasher(), now: time.Now}
	r.base = r.now()
	if burst <= 0 {
		burst = DefaultBurst(perSecond)
	}
	r.burst = float64(burst)
	if !(perSecond > 0) || math.IsInf(perSecond, 1) {
		r.unlimited = true
	} else {
		r.perNano = perSecond / 1e9
		r.fullAfter = int64(math.Ceil(r.burst / r.perNano))
		if r.fullAfter <= 0 { // overflow for absurdly slow rates
			r.fullAfter = math.MaxInt64
		}
	}
	r.setMaxEntries(DefaultRateEntries)
	for i := range r.shards {
		r.shards[i].m = make(map[netip.Addr]bucket)
	}
	return r
}

// WithMaxEntries sets the hard cap on the number of addresses tracked (at
// least one per shard is kept) and returns r. Call it before the first
// Check.
func (r *Rate) WithMaxEntries(n int) *Rate {
	r.setMaxEntries(n)
	return r
}

func (r *Rate) setMaxEntries(n int) {
	r.shardCap = max(1, n/numShards)
}

// Check takes a token from the client's bucket.
func (r *Rate) Check(_ context.Context, in *Info) (func(), error) {
	if r.unlimited {
		return nil, nil
	}
	ip, ok := in.clientIP()
	if !ok {
		return nil, nil
	}
	now := int64(r.now().Sub(r.base))
	s := &r.shards[r.hash.shard(ip)]
	s.mu.Lock()
	b, found := s.m[ip]
	if found {
		b.tokens = min(r.burst, b.tokens+float64(max(0, now-b.last))*r.perNano)
	} else {
		r.makeRoom(s, now)
		b.tokens = r.burst
	}
	b.last = now
	admit := b.tokens >= 1
	if admit {
		b.tokens--
	}
	s.m[ip] = b
	s.mu.Unlock()
	if !admit {
		return nil, &RejectError{Filter: "rate", Reason: "rate_limit", Client: ip}
	}
	return nil, nil
}

// makeRoom prepares s for one more entry. Called with s.mu held.
func (r *Rate) makeRoom(s *rateShard, now int64) {
	s.inserts++
	full := len(s.m) >= r.shardCap
	// Sweeping costs one pass over the shard; doing it after inserts
	// amounting to half the shard's size keeps the cost a small constant per
	// insert while keeping stale entries at most about a third of the shard.
	if s.inserts >= max(16, len(s.m)/2) || (full && s.inserts >= r.shardCap/4) {
		r.sweep(s, now)
		full = len(s.m) >= r.shardCap
	}
	if full {
		r.evict(s)
	}
}

// sweep deletes the buckets that have refilled. Called with s.mu held.
func (r *Rate) sweep(s *rateShard, now int64) {
	s.inserts = 0
	for ip, b := range s.m {
		if now-b.last >= r.fullAfter {
			delete(s.m, ip)
		}
	}
}

// evict deletes the least recently seen of a few entries. Go's map iteration
// starts at a random place, which makes the first few a random sample.
// Called with s.mu held.
func (r *Rate) evict(s *rateShard) {
	var victim netip.Addr
	oldest, n := int64(math.MaxInt64), 0
	for ip, b := range s.m {
		if b.last < oldest {
			victim, oldest = ip, b.last
		}
		if n++; n == rateSample {
			break
		}
	}
	if n > 0 {
		delete(s.m, victim)
	}
}

// Len returns the number of addresses tracked.
func (r *Rate) Len() int {
	n := 0
	for i := range r.shards {
		s := &r.shards[i]
		s.mu.Lock()
		n += len(s.m)
		s.mu.Unlock()
	}
	return n
}

var _ Filter = (*Rate)(nil)
