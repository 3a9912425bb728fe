package bench

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/quic-go/quic-go/http3"
	xh2 "golang.org/x/net/http2"

	"github.com/sluice-proxy/sluice/httpproxy"
	"github.com/sluice-proxy/sluice/internal/testcert"
	"github.com/sluice-proxy/sluice/shell"
	"github.com/sluice-proxy/sluice/transport"
)

// h3Bench is one sluice Service serving h2 over TLS and HTTP/3 with the
// same certificate, in front of the raw 1 KiB origin.
type h3Bench struct {
	tlsAddr, h3Addr string
	client          *tls.Config
}

func startH3Bench(b *testing.B) *h3Bench {
	b.Helper()
	ca, err := testcert.NewCA(b.TempDir(), "ca")
	if err != nil {
		b.Fatal(err)
	}
	pair, err := ca.Server("localhost")
	if err != nil {
		b.Fatal(err)
	}
	srv, err := transport.NewTLSServer(transport.ServerTLS{Certificates: []transport.CertFiles{{Cert: pair.CertFile, Key: pair.KeyFile}}, ALPN: []string{"h2"}})
	if err != nil {
		b.Fatal(err)
	}
	svc, err := httpproxy.New(httpOnePeer{&httpproxy.Peer{Addr: httpOrigin(b)}}, httpproxy.Config{Name: "bench", TLS: &shell.TLS{Server: srv}})
	if err != nil {
		b.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go svc.Serve(context.Background(), ln)
	go svc.ServeHTTP3(pc, srv.Config())
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		svc.Shutdown(ctx)
		pc.Close()
	})
	return &h3Bench{tlsAddr: ln.Addr().String(), h3Addr: pc.LocalAddr().String(), client: &tls.Config{RootCAs: ca.Pool, ServerName: "localhost"}}
}

// benchClientGets runs GETs on one client, 50 at a time (as h2load -c50
// -m1 would over one connection per protocol), and reports the p99
// latency beside ns/op.
func benchClientGets(b *testing.B, c *http.Client, url string) {
	get := func() error {
		resp, err := c.Get(url)
		if err != nil {
			return err
		}
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return err
	}
	if err := get(); err != nil {
		b.Fatal(err)
	}
	var mu sync.Mutex
	var lat []time.Duration
	b.SetParallelism(25)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		var own []time.Duration
		for pb.Next() {
			t0 := time.Now()
			if err := get(); err != nil {
				b.Error(err)
				return
			}
			own = append(own, time.Since(t0))
		}
		mu.Lock()
		lat = append(lat, own...)
		mu.Unlock()
	})
	b.StopTimer()
	if len(lat) > 0 {
		slices.Sort(lat)
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
	}
}

// BenchmarkH3Downstream: GETs over HTTP/3 through sluice to an HTTP/1.1
// origin (quic-go's client; one QUIC connection, 50 streams at a time).
func BenchmarkH3Downstream(b *testing.B) {
	h := startH3Bench(b)
	tr := &http3.Transport{TLSClientConfig: h.client}
	b.Cleanup(func() { tr.Close() })
	benchClientGets(b, &http.Client{Transport: tr}, "https://"+h.h3Addr+"/")
}

// BenchmarkH2TLSDownstream: the same over HTTP/2 on TLS (x/net's client;
// one TCP connection, 50 streams at a time), for comparison in one run.
func BenchmarkH2TLSDownstream(b *testing.B) {
	h := startH3Bench(b)
	tr := &xh2.Transport{TLSClientConfig: h.client}
	b.Cleanup(tr.CloseIdleConnections)
	benchClientGets(b, &http.Client{Transport: tr}, "https://"+h.tlsAddr+"/")
}
