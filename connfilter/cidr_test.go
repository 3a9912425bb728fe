package connfilter

import (
	"context"
	"errors"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

func mustAP(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

func prefixes(ss ...string) []netip.Prefix {
	var out []netip.Prefix
	for _, s := range ss {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}

func TestCIDR(t *testing.T) {
	for _, tc := range []struct {
		name        string
		allow, deny []netip.Prefix
		in          Info
		want        string // "" admits, else the reason
	}{
		{name: "empty lists admit", in: Info{Client: mustAP("192.0.2.1:1")}},
		{name: "allow hit", allow: prefixes("192.0.2.0/24"), in: Info{Client: mustAP("192.0.2.77:1")}},
		{name: "allow miss", allow: prefixes("192.0.2.0/24"), in: Info{Client: mustAP("198.51.100.1:1")}, want: "not_allowed"},
		{name: "deny hit", deny: prefixes("192.0.2.0/24"), in: Info{Client: mustAP("192.0.2.9:1")}, want: "deny"},
		{name: "deny miss", deny: prefixes("192.0.2.0/24"), in: Info{Client: mustAP("192.0.3.9:1")}},
		{name: "deny wins over allow", allow: prefixes("10.0.0.0/8"), deny: prefixes("10.1.0.0/16"), in: Info{Client: mustAP("10.1.2.3:1")}, want: "deny"},
		{name: "allow around a deny", allow: prefixes("10.0.0.0/8"), deny: prefixes("10.1.0.0/16"), in: Info{Client: mustAP("10.2.2.3:1")}},
		{name: "several lengths", allow: prefixes("10.0.0.0/8", "172.16.0.0/12", "192.0.2.5/32"), in: Info{Client: mustAP("172.20.1.1:1")}},
		{name: "host prefix", allow: prefixes("10.0.0.0/8", "192.0.2.5/32"), in: Info{Client: mustAP("192.0.2.5:1")}},
		{name: "host prefix miss", allow: prefixes("10.0.0.0/8", "192.0.2.5/32"), in: Info{Client: mustAP("192.0.2.6:1")}, want: "not_allowed"},
		{name: "unmasked prefix is masked", deny: prefixes("192.0.2.77/24"), in: Info{Client: mustAP("192.0.2.1:1")}, want: "deny"},
		{name: "mapped client vs v4 deny", deny: prefixes("192.0.2.0/24"), in: Info{Client: mustAP("[::ffff:192.0.2.1]:1")}, want: "deny"},
		{name: "mapped client vs v4 allow", allow: prefixes("192.0.2.0/24"), in: Info{Client: mustAP("[::ffff:192.0.2.1]:1")}},
		{name: "v4 client vs mapped deny", deny: prefixes("::ffff:192.0.2.0/120"), in: Info{Client: mustAP("192.0.2.1:1")}, want: "deny"},
		{name: "v4 client not in ::/0", allow: prefixes("::/0"), in: Info{Client: mustAP("192.0.2.1:1")}, want: "not_allowed"},
		{name: "v6 allow hit", allow: prefixes("2001:db8::/32"), in: Info{Client: mustAP("[2001:db8::1]:1")}},
		{name: "v6 deny all", deny: prefixes("::/0"), in: Info{Client: mustAP("[2001:db8::1]:1")}, want: "deny"},
		{name: "v4 deny all", deny: prefixes("0.0.0.0/0"), in: Info{Client: mustAP("8.8.8.8:1")}, want: "deny"},
		{name: "zoned client", deny: prefixes("fe80::/10"), in: Info{Client: mustAP("[fe80::1%eth0]:1")}, want: "deny"},
		{name: "no IP, empty allow", deny: prefixes("0.0.0.0/0"), in: Info{}},
		{name: "no IP, allow list", allow: prefixes("0.0.0.0/0"), in: Info{}, want: "not_allowed"},
		{name: "awaiting proxy passes", deny: prefixes("192.0.2.0/24"), in: Info{Client: mustAP("192.0.2.1:1"), AwaitingProxy: true}},
		{name: "proxy stage judges", deny: prefixes("192.0.2.0/24"), in: Info{Client: mustAP("192.0.2.1:1"), Stage: StageProxy, AwaitingProxy: true}, want: "deny"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := NewCIDR(tc.allow, tc.deny)
			if err != nil {
				t.Fatal(err)
			}
			rel, err := c.Check(context.Background(), &tc.in)
			if rel != nil {
				t.Error("CIDR returned a release func")
			}
			if got := Reason(err); got != tc.want {
				t.Fatalf("Check = %v (reason %q), want reason %q", err, got, tc.want)
			}
			var re *RejectError
			if err != nil && (!errors.As(err, &re) || re.Filter != "cidr") {
				t.Fatalf("err = %#v, want a *RejectError from cidr", err)
			}
		})
	}
}

func TestCIDRInvalidPrefix(t *testing.T) {
	if _, err := NewCIDR([]netip.Prefix{{}}, nil); err == nil {
		t.Fatal("NewCIDR accepted the zero prefix in the allow list")
	}
	c, err := NewCIDR(nil, prefixes("192.0.2.0/24"))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Set(nil, []netip.Prefix{{}}); err == nil {
		t.Fatal("Set accepted the zero prefix")
	}
	if c.Admits(netip.MustParseAddr("192.0.2.1")) {
		t.Fatal("a failed Set changed the lists")
	}
}

func TestCIDRSet(t *testing.T) {
	c, err := NewCIDR(nil, prefixes("192.0.2.0/24"))
	if err != nil {
		t.Fatal(err)
	}
	ip := netip.MustParseAddr("192.0.2.1")
	if c.Admits(ip) {
		t.Fatal("denied address admitted")
	}
	if err := c.Set(prefixes("192.0.2.0/24"), nil); err != nil {
		t.Fatal(err)
	}
	if !c.Admits(ip) || c.Admits(netip.MustParseAddr("198.51.100.1")) {
		t.Fatal("Set did not swap the lists")
	}
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadCIDRFile(t *testing.T) {
	p := writeFile(t, "allow.txt", `# office networks
10.0.0.0/8
  192.0.2.7   # a single host
2001:db8::/32

	fe80::1
::ffff:198.51.100.0/120
`)
	got, err := LoadCIDRFile(p)
	if err != nil {
		t.Fatal(err)
	}
	want := prefixes("10.0.0.0/8", "192.0.2.7/32", "2001:db8::/32", "fe80::1/128", "::ffff:198.51.100.0/120")
	if !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

func TestLoadCIDRFileErrors(t *testing.T) {
	for _, tc := range []struct {
		name, content, want string
	}{
		{"bad address", "10.0.0.0/8\n\n# c\n10.0.0.300\n", "bad.txt:4:"},
		{"bad length", "10.0.0.0/33\n", "bad.txt:1:"},
		{"zone", "fe80::1%eth0\n", "bad.txt:1:"},
		{"garbage", "10.0.0.0/8\nhello world\n", "bad.txt:2:"},
		{"long line", "10.0.0.0/8\n" + strings.Repeat("1", maxCIDRLine+10) + "\n", "bad.txt:2:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := writeFile(t, "bad.txt", tc.content)
			_, err := LoadCIDRFile(p)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one naming %q", err, tc.want)
			}
		})
	}
	_, err := LoadCIDRFile(filepath.Join(t.TempDir(), "missing"))
	if !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing file: err = %v, want os.ErrNotExist", err)
	}
}

func TestCIDRFilesReload(t *testing.T) {
	dir := t.TempDir()
	allow := filepath.Join(dir, "allow")
	deny := filepath.Join(dir, "deny")
	write := func(p, s string) {
		if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(allow, "10.0.0.0/8\n")
	write(deny, "10.9.0.0/16\n")
	c, err := NewCIDRFiles(allow, deny)
	if err != nil {
		t.Fatal(err)
	}
	a, b := netip.MustParseAddr("10.9.1.1"), netip.MustParseAddr("192.0.2.1")
	if c.Admits(a) || c.Admits(b) || !c.Admits(netip.MustParseAddr("10.1.1.1")) {
		t.Fatal("lists from files not applied")
	}
	write(allow, "192.0.2.0/24\n")
	write(deny, "")
	if err := c.Reload(); err != nil {
		t.Fatal(err)
	}
	if !c.Admits(b) || c.Admits(a) {
		t.Fatal("Reload did not apply the new files")
	}
	write(deny, "nonsense\n")
	if err := c.Reload(); err == nil || !strings.Contains(err.Error(), "deny:1:") {
		t.Fatalf("Reload of a bad file: err = %v", err)
	}
	if !c.Admits(b) {
		t.Fatal("a failed Reload changed the lists")
	}
	if _, err := NewCIDRFiles(filepath.Join(dir, "nope"), ""); err == nil {
		t.Fatal("NewCIDRFiles with a missing file succeeded")
	}
	inline, _ := NewCIDR(prefixes("10.0.0.0/8"), nil)
	if err := inline.Reload(); err != nil || !inline.Admits(netip.MustParseAddr("10.0.0.1")) {
		t.Fatalf("Reload of an inline CIDR: %v", err)
	}
}

// TestCIDRConcurrentSet swaps lists while checks run; -race checks that
// readers and writers do not conflict, and each check sees a whole table.
func TestCIDRConcurrentSet(t *testing.T) {
	// Both tables refuse 192.0.2.1, by different reasons; a torn read
	// (allow from one, deny from the other) would admit it.
	tableA := [2][]netip.Prefix{prefixes("10.0.0.0/8"), nil}
	tableB := [2][]netip.Prefix{nil, prefixes("192.0.2.0/24")}
	c, err := NewCIDR(tableA[0], tableA[1])
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var setter, checkers sync.WaitGroup
	setter.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			tb := tableA
			if i%2 == 1 {
				tb = tableB
			}
			if err := c.Set(tb[0], tb[1]); err != nil {
				t.Error(err)
				return
			}
		}
	})
	for range 4 {
		checkers.Go(func() {
			in := Info{Client: mustAP("192.0.2.1:1")}
			for range 5000 {
				if _, err := c.Check(context.Background(), &in); err == nil {
					t.Error("192.0.2.1 admitted during a swap")
					return
				}
			}
		})
	}
	checkers.Wait()
	close(stop)
	setter.Wait()
}

// TestPrefixSetMatchesNetip cross-checks prefixSet against
// netip.Prefix.Contains on random prefixes of every length and on addresses
// near them.
func TestPrefixSetMatchesNetip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	randAddr := func(v6 bool) netip.Addr {
		if v6 {
			var b [16]byte
			for i := range b {
				b[i] = byte(rng.Uint32())
			}
			return netip.AddrFrom16(b)
		}
		return netip.AddrFrom4([4]byte{byte(rng.Uint32()), byte(rng.Uint32()), byte(rng.Uint32()), byte(rng.Uint32())})
	}
	for round := range 200 {
		var ps []netip.Prefix
		for range 1 + rng.IntN(6) {
			a := randAddr(rng.IntN(2) == 0)
			ps = append(ps, netip.PrefixFrom(a, rng.IntN(a.BitLen()+1)))
		}
		set, err := newPrefixSet(ps)
		if err != nil {
			t.Fatal(err)
		}
		for range 200 {
			var ip netip.Addr
			if p := ps[rng.IntN(len(ps))]; rng.IntN(2) == 0 {
				// An address sharing the prefix's leading bits, often inside it.
				b := p.Addr().AsSlice()
				r := randAddr(p.Addr().Is6()).AsSlice()
				keep := p.Bits() - rng.IntN(3)
				for i := range b {
					for bit := range 8 {
						if i*8+bit >= keep {
							m := byte(0x80 >> bit)
							b[i] = b[i]&^m | r[i]&m
						}
					}
				}
				ip, _ = netip.AddrFromSlice(b)
			} else {
				ip = randAddr(rng.IntN(2) == 0)
			}
			want := false
			for _, p := range ps {
				want = want || p.Contains(ip)
			}
			if got := set.contains(ip); got != want {
				t.Fatalf("round %d: prefixes %v, %v: contains = %v, want %v", round, ps, ip, got, want)
			}
		}
	}
}
