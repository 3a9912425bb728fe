// Command h2serve serves HTTP/2 with prior knowledge (h2c) from
// protocols/http2 alone, answering every request with -size bytes, for
// h2spec and frame-level benchmarks of the server connection:
//
//	h2serve -listen 127.0.0.1:18443 -size 102400
//	h2spec -h 127.0.0.1 -p 18443
package main

import (
	"bytes"
	"flag"
	"io"
	"log"
	"net"
	"strconv"

	"golang.org/x/net/http2/hpack"

	"github.com/sluice-proxy/sluice/protocols/http2"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:18443", "address to serve h2c on")
	size := flag.Int("size", 100<<10, "response body bytes (h2spec wants at least 100 KiB for its flow-control cases)")
	flag.Parse()
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
		go http2.Serve(c, http2.Limits{}, func(st *http2.Stream) {
			io.Copy(io.Discard, st.Body)
			st.WriteHeader(200, []hpack.HeaderField{{Name: "content-length", Value: strconv.Itoa(len(body))}}, false)
			st.Write(body)
		})
	}
}
