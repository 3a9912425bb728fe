package bench

import (
	"context"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"testing"
	"time"

	"github.com/sluice-proxy/sluice/bench/httpsidebyside/rawhttp"
	"github.com/sluice-proxy/sluice/fdpoll"
	"github.com/sluice-proxy/sluice/httpproxy"
)

// httpBodySize is the origin's response body, as in bench/run-http.sh.
const httpBodySize = 1024

// httpOrigin serves a fixed 200 response with a 1 KiB body on 127.0.0.1:0
// until the benchmark ends. It allocates nothing per request, so allocs/op
// through a proxy are the proxy's.
func httpOrigin(b *testing.B) string {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	o := rawhttp.NewOrigin(ln, rawhttp.Response(httpBodySize))
	done := make(chan error, 1)
	go func() { done <- o.Serve() }()
	b.Cleanup(func() {
		o.Close()
		if err := <-done; err != nil {
			b.Error(err)
		}
	})
	return ln.Addr().String()
}

// httpOnePeer sends every request to one long-lived Peer.
type httpOnePeer struct{ peer *httpproxy.Peer }

var _ httpproxy.Proxy = httpOnePeer{}

// UpstreamPeer returns the one peer.
func (p httpOnePeer) UpstreamPeer(context.Context, *httpproxy.Session) (*httpproxy.Peer, error) {
	return p.peer, nil
}

// startHTTPProxy runs an httpproxy.Service in front of upstream and returns
// its address.
func startHTTPProxy(b *testing.B, upstream string) string {
	b.Helper()
	return startHTTPProxyWith(b, upstream, httpproxy.Config{Name: "bench"})
}

// startHTTPProxyFdpoll is startHTTPProxy with the sockets served by an
// fdpoll.Poller, as cmd/sluice serves them by default.
func startHTTPProxyFdpoll(b *testing.B, upstream string) string {
	b.Helper()
	pl, err := fdpoll.New()
	if err != nil {
		b.Skip(err)
	}
	b.Cleanup(func() { pl.Close() })
	return startHTTPProxyWith(b, upstream, httpproxy.Config{Name: "bench", Poller: pl})
}

// startHTTPProxyWith runs an httpproxy.Service with cfg in front of
// upstream and returns its address.
func startHTTPProxyWith(b *testing.B, upstream string, cfg httpproxy.Config) string {
	b.Helper()
	svc, err := httpproxy.New(httpOnePeer{&httpproxy.Peer{Addr: upstream}}, cfg)
	if err != nil {
		b.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- svc.Serve(context.Background(), ln) }()
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := svc.Shutdown(ctx); err != nil {
			b.Error(err)
		}
		if err := <-done; err != nil {
			b.Error(err)
		}
	})
	return ln.Addr().String()
}

// startReverseProxy runs Go's httputil.ReverseProxy behind net/http's
// server in front of upstream, with the Transport bench/run-http.sh gives
// it (100 idle connections per host), and returns its address.
func startReverseProxy(b *testing.B, upstream string) string {
	b.Helper()
	target := &url.URL{Scheme: "http", Host: upstream}
	tr := &http.Transport{
		MaxIdleConns:        100,
		MaxIdleConnsPerHost: 100,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
	rp := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(target)
			r.Out.Host = r.In.Host
		},
		Transport: tr,
		ErrorLog:  log.New(io.Discard, "", 0),
	}
	srv := &http.Server{Handler: rp, ReadHeaderTimeout: 10 * time.Second, ErrorLog: log.New(io.Discard, "", 0)}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			b.Error(err)
		}
		if err := <-done; !errors.Is(err, http.ErrServerClosed) {
			b.Error(err)
		}
		tr.CloseIdleConnections()
	})
	return ln.Addr().String()
}

// httpClient dials addr with a keep-alive client that is closed when the
// benchmark ends.
func httpClient(b *testing.B, addr string) *rawhttp.Client {
	b.Helper()
	c, err := rawhttp.Dial(addr)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	return c
}

// get sends one GET and checks the answer is 200 with the whole body.
func get(c *rawhttp.Client) error {
	status, n, err := c.Get()
	if err != nil {
		return err
	}
	if status != 200 || n != httpBodySize {
		return errors.New("unexpected response")
	}
	return nil
}

// benchGets is one GET per iteration over one kept-alive connection: the
// latency of a request through whatever serves addr. allocs/op covers the
// client, the proxy and the origin; the client and the origin allocate
// nothing per request.
func benchGets(b *testing.B, addr string) {
	c := httpClient(b, addr)
	if err := get(c); err != nil { // connect upstream outside the loop
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(httpBodySize)
	for b.Loop() {
		if err := get(c); err != nil {
			b.Fatal(err)
		}
	}
}

// benchGetsParallel is the same over 50 connections (25 per P on two
// cores), as wrk drives bench/run-http.sh: throughput, where ns/op is the
// wall time per request of all connections together.
func benchGetsParallel(b *testing.B, addr string) {
	b.ReportAllocs()
	b.SetBytes(httpBodySize)
	b.SetParallelism(25)
	b.RunParallel(func(pb *testing.PB) {
		c, err := rawhttp.Dial(addr)
		if err != nil {
			b.Error(err)
			return
		}
		defer c.Close()
		for pb.Next() {
			if err := get(c); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkHTTPDirect is the floor: the client straight to the origin.
func BenchmarkHTTPDirect(b *testing.B) { benchGets(b, httpOrigin(b)) }

// BenchmarkHTTPProxy is one GET through sluice's httpproxy.Service per
// iteration, over a kept-alive client connection and a pooled upstream one.
func BenchmarkHTTPProxy(b *testing.B) { benchGets(b, startHTTPProxy(b, httpOrigin(b))) }

// BenchmarkHTTPProxyFdpoll is BenchmarkHTTPProxy with the proxy's sockets
// served by an fdpoll.Poller.
func BenchmarkHTTPProxyFdpoll(b *testing.B) { benchGets(b, startHTTPProxyFdpoll(b, httpOrigin(b))) }

// BenchmarkHTTPReverseProxy is the same through httputil.ReverseProxy.
func BenchmarkHTTPReverseProxy(b *testing.B) { benchGets(b, startReverseProxy(b, httpOrigin(b))) }

// BenchmarkHTTPDirectParallel is BenchmarkHTTPDirect over 50 connections.
func BenchmarkHTTPDirectParallel(b *testing.B) { benchGetsParallel(b, httpOrigin(b)) }

// BenchmarkHTTPProxyParallel is BenchmarkHTTPProxy over 50 connections.
func BenchmarkHTTPProxyParallel(b *testing.B) {
	benchGetsParallel(b, startHTTPProxy(b, httpOrigin(b)))
}

// BenchmarkHTTPProxyFdpollParallel is BenchmarkHTTPProxyFdpoll over 50
// connections.
func BenchmarkHTTPProxyFdpollParallel(b *testing.B) {
	benchGetsParallel(b, startHTTPProxyFdpoll(b, httpOrigin(b)))
}

// BenchmarkHTTPReverseProxyParallel is BenchmarkHTTPReverseProxy over 50
// connections.
func BenchmarkHTTPReverseProxyParallel(b *testing.B) {
	benchGetsParallel(b, startReverseProxy(b, httpOrigin(b)))
}
