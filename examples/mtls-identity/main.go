// Command mtls-identity is Pingora 0.7's client-certificate example in Go
// with sluice: an HTTPS service that requires client certificates, keeps
// each client's identity (subject and serial) from its certificate through
// the shell's handshake hook, and answers every request with it, without
// an upstream.
//
//	go run ./examples/mtls-identity -demo
//
// -demo makes a CA, a server and a client certificate in a temporary
// directory, starts the service on a loopback port, sends one request with
// the client certificate and one without, prints what came back, and exits.
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/sluice-proxy/sluice/httpproxy"
	"github.com/sluice-proxy/sluice/internal/testcert"
	"github.com/sluice-proxy/sluice/shell"
	"github.com/sluice-proxy/sluice/transport"
	"github.com/sluice-proxy/sluice/vstream"
)

// Identity is what the handshake hook keeps of a client certificate; it
// travels in the connection's Digest as its user extension.
type Identity struct {
	Subject, Serial string
}

// identify is the handshake hook: it runs once per connection, after the
// client's certificate was verified.
func identify(_ context.Context, cs *tls.ConnectionState, _ *vstream.Digest) (any, error) {
	if len(cs.PeerCertificates) == 0 {
		return nil, errors.New("no client certificate")
	}
	leaf := cs.PeerCertificates[0]
	return Identity{Subject: leaf.Subject.String(), Serial: leaf.SerialNumber.Text(16)}, nil
}

// whoami answers every request with the client's identity.
type whoami struct{}

func (whoami) UpstreamPeer(context.Context, *httpproxy.Session) (*httpproxy.Peer, error) {
	return nil, errors.New("whoami answers every request itself")
}

func (whoami) RequestFilter(_ context.Context, s *httpproxy.Session) (bool, error) {
	id, ok := vstream.Extension[Identity](s.Digest)
	if !ok {
		return false, errors.New("no identity in the digest")
	}
	s.Respond(http.StatusOK, "text/plain; charset=utf-8", []byte(fmt.Sprintf("subject: %s\nserial: %s\n", id.Subject, id.Serial)))
	return true, nil
}

var (
	_ httpproxy.Proxy         = whoami{}
	_ httpproxy.RequestFilter = whoami{}
)

// newService builds the HTTPS service: cert/key serve, clients must chain
// to clientCA.
func newService(cert, key, clientCA string) (*httpproxy.Service, error) {
	srv, err := transport.NewTLSServer(transport.ServerTLS{
		Certificates: []transport.CertFiles{{Cert: cert, Key: key}},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCA:     clientCA,
		ALPN:         []string{"http/1.1"},
	})
	if err != nil {
		return nil, err
	}
	return httpproxy.New(whoami{}, httpproxy.Config{Name: "mtls", TLS: &shell.TLS{Server: srv, OnHandshake: identify}})
}

func main() {
	demo := flag.Bool("demo", false, "run a self-contained demo and exit")
	listen := flag.String("listen", "127.0.0.1:8443", "address to serve HTTPS on")
	cert := flag.String("cert", "", "server certificate (PEM)")
	key := flag.String("key", "", "server key (PEM)")
	ca := flag.String("client-ca", "", "CA client certificates must chain to (PEM)")
	flag.Parse()
	if *demo {
		if err := runDemo(os.Stdout); err != nil {
			log.Fatal(err)
		}
		return
	}
	if *cert == "" || *key == "" || *ca == "" {
		log.Fatal("mtls-identity: -cert, -key and -client-ca are required (or -demo)")
	}
	svc, err := newService(*cert, *key, *ca)
	if err != nil {
		log.Fatal(err)
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatal(err)
	}
	log.Fatal(svc.Serve(context.Background(), ln))
}

// runDemo makes certificates, serves, and asks twice: with the client
// certificate, then without.
func runDemo(out io.Writer) error {
	dir, err := os.MkdirTemp("", "mtls-identity")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	ca, err := testcert.NewCA(dir, "demo-ca")
	if err != nil {
		return err
	}
	server, err := ca.Server("localhost", "127.0.0.1")
	if err != nil {
		return err
	}
	client, err := ca.Client("alice", "Acme", time.Now().Add(time.Hour))
	if err != nil {
		return err
	}
	svc, err := newService(server.CertFile, server.KeyFile, ca.CertFile)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	go svc.Serve(context.Background(), ln)
	defer svc.Shutdown(context.Background())
	url := "https://localhost:" + fmt.Sprint(ln.Addr().(*net.TCPAddr).Port) + "/"
	for _, certs := range [][]tls.Certificate{{client.TLS}, nil} {
		tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool, Certificates: certs},
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				return (&net.Dialer{}).DialContext(ctx, "tcp", ln.Addr().String())
			}}
		resp, err := (&http.Client{Transport: tr, Timeout: 5 * time.Second}).Get(url)
		if err != nil {
			fmt.Fprintf(out, "without a client certificate: refused\n")
			continue
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		tr.CloseIdleConnections()
		fmt.Fprintf(out, "with a client certificate: %d %s", resp.StatusCode, body)
	}
	return nil
}
