package splice_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"strings"
	"time"

	"github.com/sluice-proxy/sluice/splice"
)

func ExampleCopy() {
	// Any reader and writer work; between two sockets Copy splices.
	n, err := splice.Copy(os.Stdout, strings.NewReader("hello, splice\n"))
	fmt.Println(n, err)
	// Output:
	// hello, splice
	// 14 <nil>
}

func ExampleJoin() {
	// An upstream that echoes what it gets, then closes.
	upstream, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	defer upstream.Close()
	go func() {
		c, err := upstream.Accept()
		if err != nil {
			return
		}
		io.Copy(c, c)
		c.Close()
	}()

	// The proxy: accept a client, dial the upstream, join the two.
	proxy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	defer proxy.Close()
	joined := make(chan string)
	go func() {
		client, err := proxy.Accept()
		if err != nil {
			return
		}
		up, err := net.Dial("tcp", upstream.Addr().String())
		if err != nil {
			client.Close()
			return
		}
		st, err := splice.Join(context.Background(), client, up, splice.JoinOptions{IdleTimeout: time.Minute})
		joined <- fmt.Sprintf("client→upstream %d bytes, upstream→client %d bytes, err %v", st.AToB, st.BToA, err)
	}()

	// A client sends a request, half-closes, and reads the reply to EOF.
	c, err := net.Dial("tcp", proxy.Addr().String())
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte("ping"))
	c.(*net.TCPConn).CloseWrite()
	reply, _ := io.ReadAll(c)
	fmt.Printf("%s\n%s\n", reply, <-joined)
	// Output:
	// ping
	// client→upstream 4 bytes, upstream→client 4 bytes, err <nil>
}
