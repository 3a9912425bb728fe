package vmux_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"strings"

	"github.com/sluice-proxy/sluice/protocols/vmux"
	"github.com/sluice-proxy/sluice/vstream"
)

// A client and a server session over one connection; the client opens
// streams, the server accepts them. Each stream is a net.Conn with
// CloseWrite.
func Example() {
	c, s := net.Pipe() // any net.Conn: a TCP connection in practice
	client := vmux.Client(c, vmux.Config{})
	server := vmux.Server(s, vmux.Config{})
	defer client.Close()
	defer server.Close()

	go func() {
		for {
			st, err := server.Accept(context.Background())
			if err != nil {
				return
			}
			go func() {
				defer st.Close()
				b, _ := io.ReadAll(st)
				st.Write([]byte(strings.ToUpper(string(b))))
			}()
		}
	}()

	for _, msg := range []string{"first", "second"} {
		st, err := client.Open(context.Background())
		if err != nil {
			panic(err)
		}
		st.Write([]byte(msg))
		st.CloseWrite() // half-close: the server reads EOF
		b, _ := io.ReadAll(st)
		st.Close()
		fmt.Printf("stream %d: %s\n", st.ID(), b)
	}
	// Output:
	// stream 1: FIRST
	// stream 3: SECOND
}

// Serve turns accepted vmux connections into streams delivered to a
// vstream.Listener, which anything that serves a net.Listener can serve.
func ExampleServe() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	vl := vstream.NewListener(vstream.Addr{Net: "vmux", Name: "edge"}, 16)
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- vmux.Serve(ctx, ln, vl, vmux.Config{}) }()

	// An ordinary accept loop, as for sockets.
	go func() {
		for {
			c, err := vl.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				b, _ := io.ReadAll(c)
				fmt.Fprintf(c, "%s from %s", b, c.RemoteAddr().Network())
			}()
		}
	}()

	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		panic(err)
	}
	sess := vmux.Client(conn, vmux.Config{})
	st, _ := sess.Open(context.Background())
	st.Write([]byte("hello"))
	st.CloseWrite()
	b, _ := io.ReadAll(st)
	fmt.Println(string(b))

	sess.Close()
	cancel()
	<-served
	vl.Close()
	// Output: hello from tcp
}
