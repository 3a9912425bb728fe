package transport

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/sluice-proxy/sluice/internal/testcert"
	"github.com/sluice-proxy/sluice/internal/testserve"
)

// tlsUpstream serves TLS with pair on loopback (requiring a client
// certificate from clientCA when set) and answers "ok".
func tlsUpstream(t *testing.T, pair *testcert.Pair, clientCA *testcert.CA) string {
	t.Helper()
	cfg := &tls.Config{Certificates: []tls.Certificate{pair.TLS}}
	if clientCA != nil {
		cfg.ClientAuth, cfg.ClientCAs = tls.RequireAndVerifyClientCert, clientCA.Pool
	}
	return testserve.TLS(t, cfg, func(c *tls.Conn) { c.Write([]byte("ok")) })
}

// TestDialTLSVerification: the name is verified against the SNI or the
// alternative CN, the chain against the CA; each switch turns off what
// it says; a client certificate is sent when configured.
func TestDialTLSVerification(t *testing.T) {
	dir := t.TempDir()
	ca, _ := testcert.NewCA(dir, "ca")
	other, _ := testcert.NewCA(dir, "other")
	srv, err := ca.Server("origin.example")
	if err != nil {
		t.Fatal(err)
	}
	foreign, _ := other.Server("origin.example")
	cli, _ := ca.Client("sluice", "Acme", time.Now().Add(time.Hour))
	good := tlsUpstream(t, srv, nil)
	bad := tlsUpstream(t, foreign, nil)
	mtls := tlsUpstream(t, srv, ca)
	for _, tc := range []struct {
		name string
		addr string
		cfg  ClientTLS
		ok   bool
	}{
		{"verified", good, ClientTLS{SNI: "origin.example", CA: ca.CertFile}, true},
		{"wrong name", good, ClientTLS{SNI: "other.example", CA: ca.CertFile}, false},
		{"alternative cn", good, ClientTLS{SNI: "other.example", AlternativeCN: "origin.example", CA: ca.CertFile}, true},
		{"name unchecked", good, ClientTLS{SNI: "other.example", SkipVerifyHostname: true, CA: ca.CertFile}, true},
		{"foreign CA", bad, ClientTLS{SNI: "origin.example", CA: ca.CertFile}, false},
		{"foreign CA, name unchecked", bad, ClientTLS{SNI: "origin.example", SkipVerifyHostname: true, CA: ca.CertFile}, false},
		{"unverified", bad, ClientTLS{SNI: "origin.example", SkipVerifyCert: true}, true},
		{"no SNI: the address's host", good, ClientTLS{CA: ca.CertFile}, false}, // 127.0.0.1 is not in the certificate
		{"client certificate", mtls, ClientTLS{SNI: "origin.example", CA: ca.CertFile, Cert: cli.CertFile, Key: cli.KeyFile}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := NewTLSClient(tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			raw, err := net.Dial("tcp", tc.addr)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			c, err := DialTLS(ctx, raw, tc.addr, cfg)
			if !tc.ok {
				if err == nil || !errors.Is(err, ErrUpstreamTLS) {
					t.Fatalf("DialTLS = %v, want ErrUpstreamTLS", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			buf := make([]byte, 2)
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			if _, err := c.Read(buf); err != nil || string(buf) != "ok" {
				t.Fatalf("read %q, %v", buf, err)
			}
		})
	}
	if _, err := NewTLSClient(ClientTLS{Cert: cli.CertFile}); err == nil {
		t.Error("a client certificate without its key was taken")
	}
}
