package proxyproto_test

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/netip"
	"time"

	"github.com/sluice-proxy/sluice/protocols/proxyproto"
	"github.com/sluice-proxy/sluice/vstream"
)

// A listener behind a load balancer: check the peer, read its PROXY header,
// and serve the connection as coming from the original client.
func ExampleAcceptor_Accept() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer ln.Close()

	// The load balancer: a header, then the client's bytes.
	go func() {
		lb, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			return
		}
		defer lb.Close()
		io.WriteString(lb, "PROXY TCP4 203.0.113.7 198.51.100.1 51234 443\r\nhello")
	}()

	acc := &proxyproto.Acceptor{
		Trusted:       []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
		HeaderTimeout: 2 * time.Second,
	}
	raw, err := ln.Accept()
	if err != nil {
		panic(err)
	}
	defer raw.Close()
	if !acc.Trusts(vstream.AddrPort(raw.RemoteAddr()).Addr()) {
		fmt.Println("untrusted peer")
		return
	}
	conn, hdr, err := acc.Accept(raw)
	if err != nil {
		fmt.Println("rejected:", err)
		return
	}
	d := vstream.NewDigest("web", raw)
	hdr.Apply(d)
	data, _ := io.ReadAll(conn)
	fmt.Println("version:", hdr.Version)
	fmt.Println("client:", conn.RemoteAddr(), d.ClientAddr)
	fmt.Println("dest:", conn.LocalAddr())
	fmt.Printf("data: %q\n", data)
	// Output:
	// version: 1
	// client: 203.0.113.7:51234 203.0.113.7:51234
	// dest: 198.51.100.1:443
	// data: "hello"
}

// An upstream gets the client's addresses before any client byte.
func ExampleWriteHeader() {
	client := &net.TCPAddr{IP: net.IPv4(192, 168, 0, 1), Port: 56324}
	dest := &net.TCPAddr{IP: net.IPv4(192, 168, 0, 11), Port: 443}

	var upstream bytes.Buffer // a freshly dialled connection in real use
	if err := proxyproto.WriteHeader(&upstream, 1, client, dest, nil); err != nil {
		panic(err)
	}
	fmt.Printf("%q\n", upstream.String())

	upstream.Reset()
	alpn := []vstream.TLV{{Type: 0x01, Value: []byte("h2")}}
	if err := proxyproto.WriteHeader(&upstream, 2, client, dest, alpn); err != nil {
		panic(err)
	}
	fmt.Printf("% x\n", upstream.Bytes())
	// Output:
	// "PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n"
	// 0d 0a 0d 0a 00 0d 0a 51 55 49 54 0a 21 11 00 11 c0 a8 00 01 c0 a8 00 0b dc 04 01 bb 01 00 02 68 32
}

func ExampleParseVersion() {
	for _, s := range []string{"", "v1", "v2", "v3"} {
		v, err := proxyproto.ParseVersion(s)
		fmt.Println(v, err)
	}
	// Output:
	// 0 <nil>
	// 1 <nil>
	// 2 <nil>
	// 0 proxyproto: unknown PROXY protocol version "v3" (want "v1" or "v2")
}
