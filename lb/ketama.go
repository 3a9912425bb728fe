package lb

import (
	"slices"
	"strconv"
)

// PointsPerWeight is the number of ketama ring points per unit of weight,
// as in libketama and Pingora.
const PointsPerWeight = 160

// ketamaRing is a consistent-hash ring: every backend owns
// PointsPerWeight*Weight points at hash64(addr + "-" + i); a key belongs to
// the first point at or after hash64(key), wrapping around. The ring
// depends only on the backends' addresses and weights, so two Balancers
// built from the same configuration agree on every key.
type ketamaRing struct {
	hashes []uint64 // sorted
	owners []uint32 // owners[i] is the backend index of hashes[i]
}

func (r *ketamaRing) init(bs []*Backend) {
	type point struct {
		hash  uint64
		owner uint32
	}
	n := 0
	for _, be := range bs {
		n += PointsPerWeight * be.Weight
	}
	pts := make([]point, 0, n)
	var buf []byte
	for _, be := range bs {
		for i := range PointsPerWeight * be.Weight {
			buf = append(append(append(buf[:0], be.Addr...), '-'), strconv.Itoa(i)...)
			pts = append(pts, point{hash64(buf), uint32(be.idx)})
		}
	}
	// Ties (vanishingly rare with 64 bits) are broken by address so the
	// ring does not depend on configuration order.
	slices.SortFunc(pts, func(a, b point) int {
		if a.hash != b.hash {
			if a.hash < b.hash {
				return -1
			}
			return 1
		}
		if bs[a.owner].Addr < bs[b.owner].Addr {
			return -1
		}
		return 1
	})
	r.hashes = make([]uint64, n)
	r.owners = make([]uint32, n)
	for i, p := range pts {
		r.hashes[i], r.owners[i] = p.hash, p.owner
	}
}

// pick returns the owner of key's point, or, if it is not eligible, the next
// distinct eligible backend clockwise round the ring.
func (r *ketamaRing) pick(b *Balancer, key []byte, exclude []*Backend, anyHealth bool) *Backend {
	n := len(r.hashes)
	h := hash64(key)
	// First point with hash >= h.
	lo, hi := 0, n
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if r.hashes[m] < h {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo == n {
		lo = 0
	}
	owner := b.backends[r.owners[lo]]
	if b.eligible(owner, exclude, anyHealth) {
		return owner
	}
	// Walk the ring. seen remembers rejected backends (the first 256 by
	// index) so each is checked once and the walk stops when all are.
	var seen [4]uint64
	nb := len(b.backends)
	last := uint32(owner.idx)
	checked := 1
	if last < 256 {
		seen[last>>6] |= 1 << (last & 63)
	}
	for step := 1; step < n; step++ {
		j := lo + step
		if j >= n {
			j -= n
		}
		idx := r.owners[j]
		if idx == last {
			continue
		}
		last = idx
		if idx < 256 && seen[idx>>6]&(1<<(idx&63)) != 0 {
			continue
		}
		be := b.backends[idx]
		if b.eligible(be, exclude, anyHealth) {
			return be
		}
		checked++
		if idx < 256 {
			seen[idx>>6] |= 1 << (idx & 63)
		}
		if nb <= 256 && checked >= nb {
			break
		}
	}
	return nil
}

// hash64 is 64-bit FNV-1a followed by the murmur3 fmix64 finalizer, which
// spreads FNV's weak high bits across the whole word so ring points and keys
// that differ only in their last bytes land far apart. Fast, allocation-free,
// not cryptographic.
func hash64(p []byte) uint64 {
	const (
		offset64 = 14695981039346656037
		prime64  = 1099511628211
	)
	h := uint64(offset64)
	for _, c := range p {
		h ^= uint64(c)
		h *= prime64
	}
	return fmix64(h)
}

func fmix64(h uint64) uint64 {
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return h
}
