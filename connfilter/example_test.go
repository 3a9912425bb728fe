package connfilter_test

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"

	"github.com/sluice-proxy/sluice/connfilter"
)

func ExampleChain() {
	cidr, err := connfilter.NewCIDR(
		[]netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")},   // allow
		[]netip.Prefix{netip.MustParsePrefix("10.66.0.0/16")}, // deny
	)
	if err != nil {
		panic(err)
	}
	f := connfilter.Chain(cidr, connfilter.NewMaxConns(1000), connfilter.NewMaxConnsPerIP(1))

	for _, client := range []string{"10.1.2.3:5000", "10.1.2.3:5001", "10.66.0.1:5000", "192.0.2.1:5000"} {
		in := &connfilter.Info{Listener: "db", Client: netip.MustParseAddrPort(client)}
		release, err := f.Check(context.Background(), in)
		if err != nil {
			fmt.Printf("%s: refused (%s)\n", client, connfilter.Reason(err))
			continue
		}
		fmt.Printf("%s: admitted\n", client)
		defer release() // when the connection closes
	}
	// Output:
	// 10.1.2.3:5000: admitted
	// 10.1.2.3:5001: refused (max_conns_per_ip)
	// 10.66.0.1:5000: refused (deny)
	// 192.0.2.1:5000: refused (not_allowed)
}

func ExampleNewCIDRFiles() {
	dir, err := os.MkdirTemp("", "cidr")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	deny := filepath.Join(dir, "deny.txt")
	os.WriteFile(deny, []byte("# abusers\n192.0.2.0/24\n198.51.100.7\n"), 0o600)

	cidr, err := connfilter.NewCIDRFiles("", deny)
	if err != nil {
		panic(err)
	}
	fmt.Println(cidr.Admits(netip.MustParseAddr("198.51.100.7")), cidr.Admits(netip.MustParseAddr("198.51.100.8")))

	// Later, on SIGHUP: the new list replaces the old one atomically.
	os.WriteFile(deny, []byte("198.51.100.8\n"), 0o600)
	if err := cidr.Reload(); err != nil {
		fmt.Println("keeping the old list:", err)
	}
	fmt.Println(cidr.Admits(netip.MustParseAddr("198.51.100.7")), cidr.Admits(netip.MustParseAddr("198.51.100.8")))
	// Output:
	// false true
	// true false
}

func ExampleNewMaxConnsPerIP() {
	f := connfilter.NewMaxConnsPerIP(2)
	in := &connfilter.Info{Client: netip.MustParseAddrPort("192.0.2.1:4000")}
	r1, _ := f.Check(context.Background(), in)
	r2, _ := f.Check(context.Background(), in)
	_, err := f.Check(context.Background(), in)
	fmt.Println(err)
	r1()
	r2()
	fmt.Println(f.Len())
	// Output:
	// connfilter: max_conns_per_ip rejected 192.0.2.1: max_conns_per_ip
	// 0
}

func ExampleNewRate() {
	f := connfilter.NewRate(1, 3) // one new connection a second per client, three at once
	in := &connfilter.Info{Client: netip.MustParseAddrPort("192.0.2.1:4000")}
	for range 4 {
		_, err := f.Check(context.Background(), in)
		fmt.Println(connfilter.Reason(err))
	}
	// Output:
	//
	//
	//
	// rate_limit
}

// With a PROXY header expected from a trusted load balancer, the per-client
// filters wait for the real client.
func ExampleInfo_ClientKnown() {
	f := connfilter.NewMaxConnsPerIP(1)
	lb := netip.MustParseAddrPort("10.0.0.5:40000")
	accept := &connfilter.Info{Peer: lb, Client: lb, Stage: connfilter.StageAccept, AwaitingProxy: true}
	proxy := &connfilter.Info{Peer: lb, Client: netip.MustParseAddrPort("203.0.113.9:5555"), Stage: connfilter.StageProxy, AwaitingProxy: true}
	fmt.Println(accept.ClientKnown(), proxy.ClientKnown())
	rel, _ := f.Check(context.Background(), accept) // not counted: the LB is not the client
	fmt.Println(rel == nil, f.Len())
	rel, _ = f.Check(context.Background(), proxy) // counted against 203.0.113.9
	fmt.Println(rel == nil, f.Len())
	rel()
	// Output:
	// false true
	// true 0
	// false 1
}
