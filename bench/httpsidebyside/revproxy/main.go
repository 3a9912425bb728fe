// Command revproxy is Go's standard library reverse proxy
// (httputil.ReverseProxy behind net/http's server) in front of one
// upstream, with a Transport tuned to keep 100 idle upstream connections,
// for bench/run-http.sh.
//
//	revproxy -listen 127.0.0.1:16005 -upstream 127.0.0.1:17000 [-cpuprofile cpu.pprof]
package main

import (
	"context"
	"errors"
	"flag"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os/signal"
	"syscall"
	"time"

	"github.com/sluice-proxy/sluice/bench/httpsidebyside/internal/profile"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:16005", "address to serve")
	upstream := flag.String("upstream", "127.0.0.1:17000", "upstream address")
	idle := flag.Int("max-idle-per-host", 100, "Transport.MaxIdleConnsPerHost")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile to this file until exit")
	pprofAddr := flag.String("pprof", "", "serve net/http/pprof on this address")
	flag.Parse()

	stopProfile, err := profile.Start(*cpuprofile, *pprofAddr)
	if err != nil {
		log.Fatalf("revproxy: %v", err)
	}
	defer stopProfile()

	target := &url.URL{Scheme: "http", Host: *upstream}
	rp := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(target)
			r.Out.Host = r.In.Host
		},
		Transport: &http.Transport{
			Proxy:               nil,
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: -1}).DialContext,
			MaxIdleConns:        *idle,
			MaxIdleConnsPerHost: *idle,
			IdleConnTimeout:     90 * time.Second,
			DisableCompression:  true,
		},
		ErrorLog: log.New(io.Discard, "", 0),
	}
	srv := &http.Server{
		Handler:           rp,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       60 * time.Second,
		ErrorLog:          log.New(io.Discard, "", 0),
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatalf("revproxy: %v", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Printf("revproxy: %v", err)
	}
}
