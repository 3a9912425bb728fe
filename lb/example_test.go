package lb_test

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/sluice-proxy/sluice/lb"
)

// New and Pick: smooth weighted round robin spreads a heavy backend's picks
// through the cycle instead of sending them in a burst.
func ExampleNew() {
	bal, err := lb.New([]lb.BackendConfig{
		{Addr: "10.0.0.1:80", Weight: 5},
		{Addr: "10.0.0.2:80"},
		{Addr: "10.0.0.3:80"},
	}, lb.RoundRobin)
	if err != nil {
		fmt.Println(err)
		return
	}
	for range 7 {
		be, err := bal.Pick(nil, nil)
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(be.Addr)
	}
	// Output:
	// 10.0.0.1:80
	// 10.0.0.1:80
	// 10.0.0.2:80
	// 10.0.0.1:80
	// 10.0.0.3:80
	// 10.0.0.1:80
	// 10.0.0.1:80
}

// Dial fails over past a backend that refuses connections.
func ExampleBalancer_Dial() {
	live, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer live.Close()
	go func() {
		for {
			c, err := live.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	gone, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := gone.Addr().String()
	gone.Close() // nothing listens here any more

	bal, err := lb.New([]lb.BackendConfig{{Addr: dead}, {Addr: live.Addr().String()}}, lb.RoundRobin)
	if err != nil {
		fmt.Println(err)
		return
	}
	dial := lb.NetDialer(&net.Dialer{Timeout: time.Second}, "tcp")
	conn, be, attempts, err := bal.Dial(context.Background(), nil, dial, lb.Failover{Budget: 5 * time.Second})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer be.Release() // Dial Acquired the backend for least_conn's count
	defer conn.Close()
	fmt.Println("attempts:", attempts, "live backend:", be.Addr == live.Addr().String())
	// Output: attempts: 2 live backend: true
}

// Hash keyed by client IP keeps a client on one backend, whatever its port
// and whether it comes over TCP or UDP.
func ExampleAppendClientKey() {
	bal, err := lb.New([]lb.BackendConfig{{Addr: "a:53"}, {Addr: "b:53"}, {Addr: "c:53"}}, lb.Hash)
	if err != nil {
		fmt.Println(err)
		return
	}
	var key []byte // reused per connection: no allocation
	key = lb.AppendClientKey(key[:0], &net.TCPAddr{IP: net.ParseIP("192.0.2.10"), Port: 40000})
	tcp, _ := bal.Pick(key, nil)
	key = lb.AppendClientKey(key[:0], &net.UDPAddr{IP: net.IPv4(192, 0, 2, 10), Port: 5353})
	udp, _ := bal.Pick(key, nil)
	fmt.Println("same backend:", tcp == udp)
	// Output: same backend: true
}
