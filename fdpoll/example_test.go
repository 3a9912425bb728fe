//go:build linux

package fdpoll_test

import (
	"fmt"
	"io"
	"net"

	"github.com/sluice-proxy/sluice/fdpoll"
)

// An echo server whose accepted connections are served by a Poller.
func Example() {
	p, err := fdpoll.New()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer p.Close()

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			pc, err := p.Wrap(c) // pc owns the socket now; c is closed
			if err != nil {
				c.Close()
				continue
			}
			go func() {
				defer pc.Close()
				io.Copy(pc, pc)
			}()
		}
	}()

	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	fmt.Fprint(c, "hello")
	c.(*net.TCPConn).CloseWrite()
	b, _ := io.ReadAll(c)
	fmt.Println(string(b))
	// Output: hello
}
