package bench

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/sluice-proxy/sluice/httpproxy"
)

// h2cOrigin serves the 1 KiB body over HTTP/2 with prior knowledge (net/http's
// server) until the benchmark ends.
func h2cOrigin(b *testing.B) string {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	body := bytes.Repeat([]byte("x"), httpBodySize)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.Write(body)
	}), Protocols: new(http.Protocols)}
	srv.Protocols.SetUnencryptedHTTP2(true)
	go srv.Serve(ln)
	b.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// startH2UpstreamProxy runs an httpproxy.Service whose upstream speaks h2c.
func startH2UpstreamProxy(b *testing.B, upstream string) string {
	b.Helper()
	svc, err := httpproxy.New(httpOnePeer{&httpproxy.Peer{Addr: upstream, Protocol: httpproxy.H2C, MaxStreams: 100}}, httpproxy.Config{Name: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go svc.Serve(context.Background(), ln)
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		svc.Shutdown(ctx)
	})
	return ln.Addr().String()
}

// BenchmarkHTTPProxyH2CUpstream is BenchmarkHTTPProxy to an h2c origin
// through a multiplexed upstream connection.
func BenchmarkHTTPProxyH2CUpstream(b *testing.B) {
	benchGets(b, startH2UpstreamProxy(b, h2cOrigin(b)))
}

// BenchmarkHTTPProxyH2CUpstreamParallel is the same over 50 client
// connections sharing the upstream streams.
func BenchmarkHTTPProxyH2CUpstreamParallel(b *testing.B) {
	benchGetsParallel(b, startH2UpstreamProxy(b, h2cOrigin(b)))
}
