package bench

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"testing"
	"time"

	xh2 "golang.org/x/net/http2"

	"github.com/sluice-proxy/sluice/httpproxy"
)

// BenchmarkH2CDownstreamParallel: GETs over one h2c connection (x/net's
// client, 50 streams at a time) through sluice to the raw 1 KiB origin.
func BenchmarkH2CDownstreamParallel(b *testing.B) {
	svc, err := httpproxy.New(httpOnePeer{&httpproxy.Peer{Addr: httpOrigin(b)}}, httpproxy.Config{Name: "bench", H2C: true})
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
	tr := &xh2.Transport{AllowHTTP: true, DialTLSContext: func(ctx context.Context, network, addr string, _ *tls.Config) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}}
	b.Cleanup(tr.CloseIdleConnections)
	benchClientGets(b, &http.Client{Transport: tr}, "http://"+ln.Addr().String()+"/")
}
