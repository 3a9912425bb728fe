// Command h2serve serves HTTP/2 with prior knowledge (h2c) from
// protocols/http2 alone, answering every request with -size bytes, for
// h2spec and frame-level benchmarks of the server connection:
//
//	h2serve -listen 127.0.0.1:18443 -size 102400
//	h2spec -h 127.0.0.1 -p 18443
//
// -tls serves h2 over TLS instead (ALPN h2, a certificate made at start):
// h2spec -t -k.
package main

import (
	"bytes"
	"crypto/tls"
	"flag"
	"io"
	"log"
	"net"
	"os"
	"strconv"

	"golang.org/x/net/http2/hpack"

	"github.com/sluice-proxy/sluice/internal/testcert"
	"github.com/sluice-proxy/sluice/protocols/http2"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:18443", "address to serve h2c on")
	size := flag.Int("size", 100<<10, "response body bytes (h2spec wants at least 100 KiB for its flow-control cases)")
	useTLS := flag.Bool("tls", false, "serve h2 over TLS (ALPN h2) with a certificate made at start")
	flag.Parse()
	var tlsConfig *tls.Config
	if *useTLS {
		dir, err := os.MkdirTemp("", "h2serve")
		if err != nil {
			log.Fatal(err)
		}
		defer os.RemoveAll(dir)
		ca, err := testcert.NewCA(dir, "h2serve")
		if err != nil {
			log.Fatal(err)
		}
		pair, err := ca.Server("localhost", "127.0.0.1")
		if err != nil {
			log.Fatal(err)
		}
		tlsConfig = &tls.Config{Certificates: []tls.Certificate{pair.TLS}, NextProtos: []string{"h2"}}
	}
	body := bytes.Repeat([]byte("x"), *size)
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatal(err)
	}
	for {
		c, err := ln.Accept()
		if err != nil {
			log.Fatal(err)
		}
		if tlsConfig != nil {
			c = tls.Server(c, tlsConfig)
		}
		go http2.Serve(c, http2.Limits{}, func(st *http2.Stream) {
			io.Copy(io.Discard, st.Body)
			st.WriteHeader(200, []hpack.HeaderField{{Name: "content-length", Value: strconv.Itoa(len(body))}}, false)
			st.Write(body)
		})
	}
}
