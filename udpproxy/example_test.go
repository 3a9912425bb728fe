//go:build linux

package udpproxy_test

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/sluice-proxy/sluice/lb"
	"github.com/sluice-proxy/sluice/udpproxy"
)

// A DNS-style forwarder: one listen address, one upstream, sessions keyed by
// client address.
func ExampleNew() {
	// An upstream that echoes datagrams in upper case.
	up, _ := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	defer up.Close()
	go func() {
		buf := make([]byte, 2048)
		for {
			n, from, err := up.ReadFromUDP(buf)
			if err != nil {
				return
			}
			for i, c := range buf[:n] {
				if 'a' <= c && c <= 'z' {
					buf[i] = c - 'a' + 'A'
				}
			}
			up.WriteToUDP(buf[:n], from)
		}
	}()

	p, err := udpproxy.New(udpproxy.Config{
		Name:        "dns",
		Listen:      []string{"127.0.0.1:0"},
		Upstreams:   []lb.BackendConfig{{Addr: up.LocalAddr().String()}},
		IdleTimeout: 30 * time.Second,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := p.Listen(); err != nil {
		fmt.Println(err)
		return
	}
	served := make(chan error, 1)
	go func() { served <- p.Serve(context.Background()) }()

	c, _ := net.DialUDP("udp", nil, p.Addrs()[0].(*net.UDPAddr))
	defer c.Close()
	c.Write([]byte("hello, upstream"))
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 2048)
	n, err := c.Read(buf)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(string(buf[:n]))

	p.Shutdown(context.Background())
	fmt.Println("Serve:", <-served)
	// Output:
	// HELLO, UPSTREAM
	// Serve: <nil>
}
