package quicstream_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"math/big"
	"net"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/sluice-proxy/sluice/protocols/quicstream"
	"github.com/sluice-proxy/sluice/vstream"
)

// selfSignedTLS stands for the certificates a real deployment loads: a
// throwaway ECDSA certificate for 127.0.0.1.
func selfSignedTLS() (server, client *tls.Config) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	server = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}, NextProtos: []string{"example"}}
	client = &tls.Config{RootCAs: pool, NextProtos: []string{"example"}}
	return server, client
}

// QUIC streams delivered to a vstream.Listener are served like sockets;
// a Dialer opens streams on a QUIC connection as upstreams.
func ExampleServe() {
	serverTLS, clientTLS := selfSignedTLS()
	ql, err := quic.ListenAddr("127.0.0.1:0", serverTLS, nil)
	if err != nil {
		panic(err)
	}
	vl := vstream.NewListener(vstream.Addr{Net: "quic", Name: ql.Addr().String()}, 16)
	defer vl.Close()
	go quicstream.Serve(context.Background(), ql, vl)
	go func() {
		for {
			c, err := vl.Accept() // a *quicstream.Stream
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				b, _ := io.ReadAll(c)
				fmt.Fprintf(c, "%s over %s", b, c.RemoteAddr().Network())
			}()
		}
	}()

	conn, err := quic.DialAddr(context.Background(), ql.Addr().String(), clientTLS, nil)
	if err != nil {
		panic(err)
	}
	defer conn.CloseWithError(0, "")
	s, _ := (&quicstream.Dialer{Conn: conn}).DialStream(context.Background(), "")
	s.Write([]byte("hello"))
	s.CloseWrite()
	b, _ := io.ReadAll(s)
	s.Close()
	fmt.Println(string(b))
	// Output: hello over udp
}
