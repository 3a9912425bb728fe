package vstream_test

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/sluice-proxy/sluice/vstream"
)

// A Pipe is a buffered in-memory connection with half-close: the writer
// does not wait for the reader, and CloseWrite ends the data in one
// direction only.
func ExamplePipe() {
	client, server := vstream.Pipe()
	defer client.Close()
	defer server.Close()

	client.Write([]byte("hello"))
	client.CloseWrite()

	req, _ := io.ReadAll(server)
	server.Write([]byte(strings.ToUpper(string(req))))
	server.CloseWrite()

	resp, _ := io.ReadAll(client)
	fmt.Printf("%s -> %s\n", req, resp)
	// Output: hello -> HELLO
}

// A Listener is fed by producers with Deliver and served by an ordinary
// accept loop; it is also a Dialer for in-process clients.
func ExampleListener() {
	ln := vstream.NewListener(vstream.Addr{Net: "vstream", Name: "upper"}, 16)
	defer ln.Close()

	// The service: an accept loop like any other.
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return // net.ErrClosed once ln is closed
			}
			go func() {
				defer c.Close()
				b, _ := io.ReadAll(c)
				c.Write([]byte(strings.ToUpper(string(b))))
			}()
		}
	}()

	// A producer hands over a stream it got elsewhere...
	mine, theirs := vstream.Pipe()
	if err := ln.Deliver(context.Background(), theirs); err != nil {
		panic(err)
	}
	mine.Write([]byte("delivered"))
	mine.CloseWrite()
	b, _ := io.ReadAll(mine)
	fmt.Println(string(b))

	// ...or dials the service through the Listener's Dialer side.
	var d vstream.Dialer = ln
	s, err := d.DialStream(context.Background(), "upper")
	if err != nil {
		panic(err)
	}
	s.Write([]byte("dialled"))
	s.CloseWrite()
	b, _ = io.ReadAll(s)
	fmt.Println(string(b))
	// Output:
	// DELIVERED
	// DIALLED
}

// DialFunc turns a Dialer into the dial function shape that lb and
// tcpproxy take (lb.DialFunc, tcpproxy.Config.Dial).
func ExampleDialFunc() {
	echo := vstream.DialerFunc(func(ctx context.Context, addr string) (vstream.Stream, error) {
		c, s := vstream.Pipe()
		go func() {
			io.Copy(s, s)
			s.Close()
		}()
		return c, nil
	})
	dial := vstream.DialFunc(echo) // assignable to lb.DialFunc
	c, _ := dial(context.Background(), "echo")
	c.Write([]byte("ping"))
	c.(vstream.Stream).CloseWrite()
	b, _ := io.ReadAll(c)
	c.Close()
	fmt.Println(string(b))
	// Output: ping
}
