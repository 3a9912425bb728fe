package bench

import (
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"strconv"
	"testing"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	sh2 "github.com/sluice-proxy/sluice/protocols/http2"
)

// h2Client is an h2c client with prior knowledge over one connection.
func h2Client(b *testing.B) *http.Client {
	tr := &http2.Transport{AllowHTTP: true, DialTLSContext: func(ctx context.Context, network, addr string, _ *tls.Config) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}}
	b.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

// serveH2 serves every connection to a loopback listener with serve.
func serveH2(b *testing.B, serve func(c net.Conn)) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go serve(c)
		}
	}()
	return ln.Addr().String()
}

var h2Body = bytes.Repeat([]byte("x"), 1024)

// benchH2 runs GETs of a 1 KiB body over one h2c connection, 10 streams at
// a time (b.SetParallelism), as h2load -m10 does on one connection.
func benchH2(b *testing.B, addr string) {
	c := h2Client(b)
	url := "http://" + addr + "/"
	b.SetParallelism(5) // 5 × GOMAXPROCS (2 here) = 10 concurrent streams
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			resp, err := c.Get(url)
			if err != nil {
				b.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	})
}

// BenchmarkH2ServerOwn: protocols/http2's server connection.
func BenchmarkH2ServerOwn(b *testing.B) {
	addr := serveH2(b, func(c net.Conn) {
		sh2.Serve(c, sh2.Limits{}, func(st *sh2.Stream) {
			st.WriteHeader(200, []hpack.HeaderField{{Name: "content-length", Value: strconv.Itoa(len(h2Body))}}, false)
			st.Write(h2Body)
		})
	})
	benchH2(b, addr)
}

// BenchmarkH2ServerXNet: x/net/http2's Server, for comparison.
func BenchmarkH2ServerXNet(b *testing.B) {
	srv := &http2.Server{}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(len(h2Body)))
		w.Write(h2Body)
	})
	addr := serveH2(b, func(c net.Conn) { srv.ServeConn(c, &http2.ServeConnOpts{Handler: h}) })
	benchH2(b, addr)
}
