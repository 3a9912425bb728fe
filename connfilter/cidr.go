package connfilter

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync/atomic"
)

// CIDR admits or refuses clients by address: a client in a deny prefix is
// refused with reason "deny"; otherwise, when the allow list is not empty, a
// client in no allow prefix is refused with reason "not_allowed". Deny wins
// over allow; an empty allow list admits every address not denied.
//
// IPv4-mapped IPv6 clients (::ffff:a.b.c.d) are judged as the IPv4 address
// they carry, and IPv4-mapped prefixes of length 96 or more are converted to
// IPv4 prefixes, so "::ffff:10.0.0.0/104" and "10.0.0.0/8" mean the same.
// An IPv4 client matches only IPv4 prefixes: "::/0" does not contain it.
//
// A client without an IP address (a Unix socket peer) is in no prefix: it is
// admitted when the allow list is empty and refused with "not_allowed"
// otherwise.
//
// The lists can be replaced at runtime with Set or Reload; Check never takes
// a lock, and each Check sees either the old lists or the new ones whole.
// CIDR judges only when [Info.ClientKnown]; otherwise it admits.
type CIDR struct {
	table               atomic.Pointer[cidrTable]
	allowFile, denyFile string
}

// NewCIDR returns a CIDR filter with the given lists. It fails on an invalid
// prefix (such as the zero netip.Prefix) rather than ignore it.
func NewCIDR(allow, deny []netip.Prefix) (*CIDR, error) {
	c := &CIDR{}
	if err := c.Set(allow, deny); err != nil {
		return nil, err
	}
	return c, nil
}

// NewCIDRFiles returns a CIDR filter whose lists are read from files, in the
// format of LoadCIDRFile; either name may be empty for an empty list. Reload
// reads the files again.
func NewCIDRFiles(allowFile, denyFile string) (*CIDR, error) {
	c := &CIDR{allowFile: allowFile, denyFile: denyFile}
	if err := c.Reload(); err != nil {
		return nil, err
	}
	return c, nil
}

// Set replaces both lists at once. On error the old lists stay.
func (c *CIDR) Set(allow, deny []netip.Prefix) error {
	a, err := newPrefixSet(allow)
	if err != nil {
		return fmt.Errorf("connfilter: allow list: %w", err)
	}
	d, err := newPrefixSet(deny)
	if err != nil {
		return fmt.Errorf("connfilter: deny list: %w", err)
	}
	c.table.Store(&cidrTable{allow: a, deny: d})
	return nil
}

// Reload reads the files given to NewCIDRFiles again and swaps in their
// lists. On error the old lists stay. For a CIDR made by NewCIDR it does
// nothing and returns nil.
func (c *CIDR) Reload() error {
	if c.allowFile == "" && c.denyFile == "" {
		if c.table.Load() == nil {
			c.table.Store(&cidrTable{})
		}
		return nil
	}
	var allow, deny []netip.Prefix
	var err error
	if c.allowFile != "" {
		if allow, err = LoadCIDRFile(c.allowFile); err != nil {
			return err
		}
	}
	if c.denyFile != "" {
		if deny, err = LoadCIDRFile(c.denyFile); err != nil {
			return err
		}
	}
	return c.Set(allow, deny)
}

// Check judges in.Client.
func (c *CIDR) Check(_ context.Context, in *Info) (func(), error) {
	if !in.ClientKnown() {
		return nil, nil
	}
	ip, ok := in.clientIP()
	t := c.table.Load()
	if t == nil {
		return nil, nil
	}
	if ok && t.deny.contains(ip) {
		return nil, &RejectError{Filter: "cidr", Reason: "deny", Client: ip}
	}
	if !t.allow.empty() && (!ok || !t.allow.contains(ip)) {
		return nil, &RejectError{Filter: "cidr", Reason: "not_allowed", Client: ip}
	}
	return nil, nil
}

// Admits reports whether c, with its lists as they are now, admits a client
// with address ip.
func (c *CIDR) Admits(ip netip.Addr) bool {
	in := Info{Client: netip.AddrPortFrom(ip, 0)}
	_, err := c.Check(context.Background(), &in)
	return err == nil
}

// cidrTable is one immutable generation of a CIDR's lists.
type cidrTable struct {
	allow, deny prefixSet
}

// prefixSet answers "is ip in any of these prefixes" with one map lookup per
// distinct prefix length, allocating nothing. Keys are plain integers, which
// hash faster than netip.Prefix.
type prefixSet struct {
	v4           map[uint64]struct{} // masked address<<8 | bits
	v6           map[v6Key]struct{}
	bits4, bits6 []int // distinct prefix lengths present, longest first
}

type v6Key struct {
	hi, lo uint64
	bits   int
}

func v4KeyOf(a uint32, bits int) uint64 {
	if bits < 32 {
		a &= ^(^uint32(0) >> bits)
	}
	return uint64(a)<<8 | uint64(bits)
}

func v6KeyOf(hi, lo uint64, bits int) v6Key {
	switch {
	case bits <= 0:
		hi, lo = 0, 0
	case bits < 64:
		hi &= ^(^uint64(0) >> bits)
		lo = 0
	case bits < 128:
		lo &= ^(^uint64(0) >> (bits - 64))
	}
	return v6Key{hi, lo, bits}
}

func v4Uint(a netip.Addr) uint32 {
	b := a.As4()
	return binary.BigEndian.Uint32(b[:])
}

func v6Uints(a netip.Addr) (hi, lo uint64) {
	b := a.As16()
	return binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])
}

func newPrefixSet(ps []netip.Prefix) (prefixSet, error) {
	s := prefixSet{v4: map[uint64]struct{}{}, v6: map[v6Key]struct{}{}}
	for _, p := range ps {
		if !p.IsValid() {
			return prefixSet{}, fmt.Errorf("invalid prefix %q", p.String())
		}
		p = normalizePrefix(p)
		if a := p.Addr(); a.Is4() {
			s.v4[v4KeyOf(v4Uint(a), p.Bits())] = struct{}{}
			s.bits4 = appendUnique(s.bits4, p.Bits())
		} else {
			hi, lo := v6Uints(a)
			s.v6[v6KeyOf(hi, lo, p.Bits())] = struct{}{}
			s.bits6 = appendUnique(s.bits6, p.Bits())
		}
	}
	slices.SortFunc(s.bits4, func(a, b int) int { return b - a })
	slices.SortFunc(s.bits6, func(a, b int) int { return b - a })
	return s, nil
}

// normalizePrefix drops any zone and turns an IPv4-mapped prefix of length
// 96 or more into the IPv4 prefix it denotes.
func normalizePrefix(p netip.Prefix) netip.Prefix {
	a, bits := p.Addr().WithZone(""), p.Bits()
	if a.Is4In6() && bits >= 96 {
		a, bits = a.Unmap(), bits-96
	}
	return netip.PrefixFrom(a, bits)
}

func appendUnique(s []int, v int) []int {
	if slices.Contains(s, v) {
		return s
	}
	return append(s, v)
}

func (s *prefixSet) empty() bool { return len(s.v4) == 0 && len(s.v6) == 0 }

// contains reports whether ip (unmapped, zoneless) is in the set.
func (s *prefixSet) contains(ip netip.Addr) bool {
	if ip.Is4() {
		a := v4Uint(ip)
		for _, b := range s.bits4 {
			if _, ok := s.v4[v4KeyOf(a, b)]; ok {
				return true
			}
		}
		return false
	}
	hi, lo := v6Uints(ip)
	for _, b := range s.bits6 {
		if _, ok := s.v6[v6KeyOf(hi, lo, b)]; ok {
			return true
		}
	}
	return false
}

// maxCIDRLine bounds one line of a CIDR file.
const maxCIDRLine = 4096

// LoadCIDRFile reads a list of prefixes from a file: one prefix
// ("10.0.0.0/8", "2001:db8::/32") or bare IP address (taken as a /32 or
// /128) per line. Text from '#' to the end of a line is a comment; blank
// lines and surrounding spaces are ignored. Errors name the file and line.
func LoadCIDRFile(path string) ([]netip.Prefix, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("connfilter: %w", err)
	}
	defer f.Close()
	var out []netip.Prefix
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 256), maxCIDRLine)
	line := 0
	for sc.Scan() {
		line++
		text := sc.Text()
		if i := strings.IndexByte(text, '#'); i >= 0 {
			text = text[:i]
		}
		text = strings.TrimSpace(text)
		if text == "" {
			continue
		}
		p, err := parsePrefixOrAddr(text)
		if err != nil {
			return nil, fmt.Errorf("connfilter: %s:%d: %w", path, line, err)
		}
		out = append(out, p)
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, fmt.Errorf("connfilter: %s:%d: line longer than %d bytes: %w", path, line+1, maxCIDRLine, err)
		}
		return nil, fmt.Errorf("connfilter: %s: %w", path, err)
	}
	return out, nil
}

// parsePrefixOrAddr parses "a.b.c.d/n", "x::/n" or a bare address.
func parsePrefixOrAddr(s string) (netip.Prefix, error) {
	if strings.IndexByte(s, '/') >= 0 {
		return netip.ParsePrefix(s)
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	if a.Zone() != "" {
		return netip.Prefix{}, fmt.Errorf("address %q has a zone", s)
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

var _ Filter = (*CIDR)(nil)
