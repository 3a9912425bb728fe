package transport_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"time"

	"github.com/sluice-proxy/sluice/connfilter"
	"github.com/sluice-proxy/sluice/transport"
	"github.com/sluice-proxy/sluice/vstream"
)

func ExampleServer() {
	ctx := context.Background()
	lc := &transport.ListenConfig{Network: "tcp", Address: "127.0.0.1:0", Backlog: 1024}
	ln, err := lc.Listen(ctx)
	if err != nil {
		panic(err)
	}
	allow, _ := connfilter.NewCIDR([]netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, nil)
	srv := &transport.Server{
		Name:     "greeter",
		Listener: ln,
		Filter:   connfilter.Chain(allow, connfilter.NewMaxConnsPerIP(16)),
		Handler: func(ctx context.Context, c net.Conn, d *vstream.Digest, release func()) {
			defer release()
			defer c.Close()
			fmt.Fprintf(c, "hello from %s", d.Listener)
		},
		OnReject: func(in *connfilter.Info, err error) {
			fmt.Println("refused:", connfilter.Reason(err))
		},
	}
	go srv.Serve(ctx)

	var d transport.Dialer
	c, err := d.DialContext(ctx, "tcp", ln.Addr().String())
	if err != nil {
		panic(err)
	}
	b, _ := io.ReadAll(c)
	c.Close()
	fmt.Println(string(b))

	drain, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	fmt.Println(srv.Shutdown(drain))
	// Output:
	// hello from greeter
	// <nil>
}

func ExampleListenConfig() {
	lc := &transport.ListenConfig{
		Network:    "tcp",
		Address:    "127.0.0.1:0",
		ReusePort:  true,             // one listener per worker on the same port
		KeepAlive:  30 * time.Second, // on accepted connections
		Backlog:    4096,
		RecvBuffer: 1 << 20,
	}
	ln, err := lc.Listen(context.Background())
	if err != nil {
		panic(err)
	}
	defer ln.Close()
	fmt.Println(ln.Addr().Network())
	// Output: tcp
}

func ExampleDialer() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		fmt.Println("upstream sees client", c.RemoteAddr().(*net.TCPAddr).IP)
		c.Close()
	}()

	d := &transport.Dialer{Timeout: 3 * time.Second, Source: "127.0.0.2"}
	c, err := d.DialContext(context.Background(), "tcp", ln.Addr().String())
	if err != nil {
		panic(err)
	}
	io.ReadAll(c) // until the upstream closes
	c.Close()
	// Output: upstream sees client 127.0.0.2
}
