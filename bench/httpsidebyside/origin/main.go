// Command origin is the HTTP side-by-side's Go origin (ORIGIN=go in
// bench/run-http.sh): it answers every request with one fixed 200 response
// of -size bytes, over kept-alive connections.
//
//	origin -listen 127.0.0.1:17000 -size 1024
package main

import (
	"context"
	"flag"
	"log"
	"net"
	"os/signal"
	"syscall"

	"github.com/sluice-proxy/sluice/bench/httpsidebyside/rawhttp"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:17000", "address to serve")
	size := flag.Int("size", 1024, "response body bytes")
	flag.Parse()
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatalf("origin: %v", err)
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
