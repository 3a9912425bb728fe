package rawhttp_test

import (
	"fmt"
	"net"

	"github.com/sluice-proxy/sluice/bench/httpsidebyside/rawhttp"
)

func Example() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	o := rawhttp.NewOrigin(ln, rawhttp.Response(1024))
	go o.Serve()
	defer o.Close()

	c, err := rawhttp.Dial(ln.Addr().String())
	if err != nil {
		panic(err)
	}
	defer c.Close()
	for range 2 {
		status, n, err := c.Get()
		fmt.Println(status, n, err)
	}
	// Output:
	// 200 1024 <nil>
	// 200 1024 <nil>
}
