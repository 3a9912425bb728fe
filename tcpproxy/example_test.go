package tcpproxy_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/sluice-proxy/sluice/lb"
	"github.com/sluice-proxy/sluice/tcpproxy"
)

// A TCP forwarder in four lines (the README's): a balancer over the
// upstreams, a Proxy, a listener, Serve. Here the upstream is an echo
// server on loopback.
func Example() {
	up, _ := net.Listen("tcp", "127.0.0.1:0")
	go func() {
		for {
			c, err := up.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(c, c); c.Close() }()
		}
	}()
	defer up.Close()

	bal, _ := lb.New([]lb.BackendConfig{{Addr: up.Addr().String()}}, lb.LeastConn)
	p, _ := tcpproxy.New(tcpproxy.Config{Name: "echo", Balancer: bal, IdleTimeout: time.Hour})
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	go p.Serve(context.Background(), ln)
	defer p.Shutdown(context.Background())

	c, _ := net.Dial("tcp", ln.Addr().String())
	c.Write([]byte("hello through sluice"))
	c.(*net.TCPConn).CloseWrite() // the half-close is carried to the upstream
	b, _ := io.ReadAll(c)
	c.Close()
	fmt.Println(string(b))
	// Output: hello through sluice
}
