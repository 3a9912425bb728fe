package lb

import (
	"errors"
	"net"
	"net/netip"
	"slices"
	"testing"
)

func TestPickExcludeAndHealth(t *testing.T) {
	for _, p := range allPolicies {
		t.Run(string(p), func(t *testing.T) {
			b := mustNew(t, backends(4, 1, 2, 3, 1), p)
			bs := b.backends

			// Excluding all but one leaves only that one.
			for i, only := range bs {
				excl := slices.Delete(slices.Clone(bs), i, i+1)
				for k := range 20 {
					be, err := b.Pick(intKey(k), excl)
					if err != nil || be != only {
						t.Fatalf("exclude all but %s: Pick = %v, %v", only, be, err)
					}
				}
			}

			// Down backends are never picked, for keyed and unkeyed picks.
			b.setHeld(bs[0], "test")
			b.setHeld(bs[2], "test")
			for k := range 200 {
				be, err := b.Pick(intKey(k), nil)
				if err != nil || be == bs[0] || be == bs[2] {
					t.Fatalf("Pick = %v, %v; a down backend or none", be, err)
				}
			}
			// Down plus excluded covers all: no backend.
			if be, err := b.Pick(nil, []*Backend{bs[1], bs[3]}); !errors.Is(err, ErrNoBackend) || be != nil {
				t.Fatalf("all down or excluded: Pick = %v, %v", be, err)
			}
			b.setHeld(bs[1], "test")
			b.setHeld(bs[3], "test")
			if _, err := b.Pick(intKey(1), nil); !errors.Is(err, ErrNoBackend) {
				t.Fatalf("all down: Pick err = %v, want ErrNoBackend", err)
			}
			b.setUp(bs[3], "test")
			if be, err := b.Pick(intKey(1), nil); err != nil || be != bs[3] {
				t.Fatalf("one back up: Pick = %v, %v", be, err)
			}
		})
	}
}

func TestPickAllDownFallback(t *testing.T) {
	for _, p := range allPolicies {
		t.Run(string(p), func(t *testing.T) {
			b := mustNew(t, backends(3), p, WithAllDownFallback())
			// One healthy: the fallback must not kick in.
			b.setHeld(b.backends[0], "test")
			b.setHeld(b.backends[1], "test")
			for k := range 30 {
				if be, err := b.Pick(intKey(k), nil); err != nil || be != b.backends[2] {
					t.Fatalf("Pick = %v, %v; want the healthy c", be, err)
				}
			}
			// All down: pick among all, still honouring exclude.
			b.setHeld(b.backends[2], "test")
			seen := map[*Backend]bool{}
			for k := range 60 {
				be, err := b.Pick(intKey(k), b.backends[:1])
				if err != nil || be == b.backends[0] {
					t.Fatalf("fallback Pick = %v, %v", be, err)
				}
				seen[be] = true
			}
			if len(seen) != 2 {
				t.Fatalf("fallback used %d backends, want both non-excluded", len(seen))
			}
			if _, err := b.Pick(nil, b.backends); !errors.Is(err, ErrNoBackend) {
				t.Fatalf("fallback with all excluded: %v", err)
			}
		})
	}
}

func TestClientKeys(t *testing.T) {
	v4 := netip.MustParseAddr("192.0.2.7")
	v6 := netip.MustParseAddr("2001:db8::1")
	for _, tc := range []struct {
		name string
		got  []byte
		want []byte
	}{
		{"tcp v4", AppendClientKey(nil, &net.TCPAddr{IP: net.IPv4(192, 0, 2, 7), Port: 1}), v4.AsSlice()},
		{"udp v4 4-byte", AppendClientKey(nil, &net.UDPAddr{IP: net.IP{192, 0, 2, 7}, Port: 2}), v4.AsSlice()},
		{"ip v6", AppendClientKey(nil, &net.IPAddr{IP: net.ParseIP("2001:db8::1")}), v6.AsSlice()},
		{"netip v4", AppendIPKey(nil, v4), v4.AsSlice()},
		{"netip v4-mapped", AppendIPKey(nil, netip.MustParseAddr("::ffff:192.0.2.7")), v4.AsSlice()},
		{"netip v6 zone", AppendIPKey(nil, netip.MustParseAddr("2001:db8::1%eth0")), v6.AsSlice()},
		{"netip invalid", AppendIPKey([]byte("x"), netip.Addr{}), []byte("x")},
		{"nil addr", AppendClientKey([]byte("x"), nil), []byte("x")},
		{"unix", AppendClientKey(nil, &net.UnixAddr{Name: "/s", Net: "unix"}), []byte("/s")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !slices.Equal(tc.got, tc.want) {
				t.Fatalf("key %v, want %v", tc.got, tc.want)
			}
		})
	}
	buf := make([]byte, 0, 16)
	addr := &net.TCPAddr{IP: net.ParseIP("2001:db8::1"), Port: 9}
	if n := testing.AllocsPerRun(100, func() { buf = AppendClientKey(buf[:0], addr) }); n != 0 {
		t.Fatalf("AppendClientKey allocates %v per call", n)
	}
}
