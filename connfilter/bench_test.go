package connfilter

import (
	"context"
	"net/netip"
	"testing"
)

func BenchmarkCIDRCheck(b *testing.B) {
	c, err := NewCIDR(prefixes("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "2001:db8::/32"), prefixes("10.66.0.0/16", "192.0.2.1/32"))
	if err != nil {
		b.Fatal(err)
	}
	in := &Info{Client: mustAP("10.1.2.3:1")}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Check(context.Background(), in); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMaxConns(b *testing.B) {
	m := NewMaxConns(0)
	in := &Info{}
	b.ReportAllocs()
	for b.Loop() {
		rel, _ := m.Check(context.Background(), in)
		rel()
	}
}

func BenchmarkMaxConnsPerIP(b *testing.B) {
	m := NewMaxConnsPerIP(10)
	in := &Info{Client: mustAP("10.1.2.3:1")}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			rel, err := m.Check(context.Background(), in)
			if err == nil {
				rel()
			}
		}
	})
}

func BenchmarkRate(b *testing.B) {
	r := NewRate(1e12, 1<<20)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		in := Info{Client: netip.AddrPortFrom(ipN(i&1023), 1)}
		i++
		if _, err := r.Check(context.Background(), &in); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkChain(b *testing.B) {
	c, _ := NewCIDR(prefixes("10.0.0.0/8"), nil)
	f := Chain(c, NewMaxConns(0), NewMaxConnsPerIP(0), NewRate(1e12, 1<<20))
	in := &Info{Client: mustAP("10.1.2.3:1")}
	b.ReportAllocs()
	for b.Loop() {
		rel, err := f.Check(context.Background(), in)
		if err != nil {
			b.Fatal(err)
		}
		rel()
	}
}
