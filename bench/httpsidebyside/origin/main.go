// Command origin is the HTTP side-by-side's Go origin (ORIGIN=go in
// bench/run-http.sh): it answers every request with one fixed 200 response
// of -size bytes, over kept-alive connections. With -h2c it is net/http's
// server speaking HTTP/2 with prior knowledge (and HTTP/1.1), for the HTTP/2
// upstream benchmarks (bench/run-h2.sh).
//
//	origin -listen 127.0.0.1:17000 -size 1024 [-h2c]
package main

import (
	"bytes"
	"context"
	"flag"
	"log"
	"net"
	"net/http"
	"os/signal"
	"strconv"
	"syscall"

	"github.com/sluice-proxy/sluice/bench/httpsidebyside/rawhttp"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:17000", "address to serve")
	size := flag.Int("size", 1024, "response body bytes")
	h2c := flag.Bool("h2c", false, "serve HTTP/2 with prior knowledge (net/http's server)")
	flag.Parse()
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatalf("origin: %v", err)
	}
	if *h2c {
		serveH2C(ln, *size)
		return
	}
	o := rawhttp.NewOrigin(ln, rawhttp.Response(*size))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	go func() {
		<-ctx.Done()
		o.Close()
	}()
	if err := o.Serve(); err != nil {
		log.Fatalf("origin: %v", err)
	}
}

// serveH2C serves a fixed body of size bytes over h2c and HTTP/1.1.
func serveH2C(ln net.Listener, size int) {
	body := bytes.Repeat([]byte("x"), size)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.Write(body)
	}), Protocols: new(http.Protocols), HTTP2: &http.HTTP2Config{MaxConcurrentStreams: 1000}}
	srv.Protocols.SetUnencryptedHTTP2(true)
	srv.Protocols.SetHTTP1(true)
	if err := srv.Serve(ln); err != nil {
		log.Fatalf("origin: %v", err)
	}
}
