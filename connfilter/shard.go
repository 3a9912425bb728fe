package connfilter

import (
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
)

// numShards is how many independently locked maps a per-IP table is split
// into. A power of two.
const numShards = 32

// addrHasher spreads addresses over shards with a per-table random seed, so
// clients cannot pick addresses that all land on one shard of every sluice.
type addrHasher struct{ k0, k1 uint64 }

func newAddrHasher() addrHasher { return addrHasher{rand.Uint64(), rand.Uint64()} }

// shard returns the shard index of a.
func (h addrHasher) shard(a netip.Addr) int {
	b := a.As16()
	x := binary.LittleEndian.Uint64(b[:8]) ^ h.k0
	y := binary.LittleEndian.Uint64(b[8:]) ^ h.k1
	return int(mix64(mix64(x)^y) & (numShards - 1))
}

// mix64 is the splitmix64 finaliser.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}
