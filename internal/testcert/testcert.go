// Package testcert makes certificates for tests and demos: a CA, and
// server and client certificates it signs (ECDSA P-256), written as PEM
// files. Nothing it makes is fit for production use.
package testcert

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// CA is a certificate authority.
type CA struct {
	Cert *x509.Certificate
	key  *ecdsa.PrivateKey
	// CertFile is its certificate's PEM file.
	CertFile string
	// Pool holds its certificate.
	Pool *x509.CertPool
	dir  string
	n    int64
}

// Pair is a certificate and key signed by a CA, as files and loaded.
type Pair struct {
	CertFile, KeyFile string
	TLS               tls.Certificate
}

// NewCA makes a CA named name whose files go to dir.
func NewCA(dir, name string) (*CA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: name, Organization: []string{name}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	ca := &CA{Cert: cert, key: key, dir: dir, n: 1, Pool: x509.NewCertPool()}
	ca.Pool.AddCert(cert)
	ca.CertFile = filepath.Join(dir, fmt.Sprintf("%s-ca.pem", name))
	if err := writePEM(ca.CertFile, "CERTIFICATE", der); err != nil {
		return nil, err
	}
	return ca, nil
}

// Server makes a server certificate for names (DNS names or IPs), valid
// now for a day.
func (ca *CA) Server(names ...string) (*Pair, error) {
	return ca.issue(names[0], "", names, x509.ExtKeyUsageServerAuth, time.Now().Add(24*time.Hour))
}

// Client makes a client certificate with the common name cn and the
// organization org, expiring at notAfter.
func (ca *CA) Client(cn, org string, notAfter time.Time) (*Pair, error) {
	return ca.issue(cn, org, nil, x509.ExtKeyUsageClientAuth, notAfter)
}

func (ca *CA) issue(cn, org string, names []string, usage x509.ExtKeyUsage, notAfter time.Time) (*Pair, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	ca.n++
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(ca.n * 1000),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{usage},
	}
	if org != "" {
		tmpl.Subject.Organization = []string{org}
	}
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.key)
	if err != nil {
		return nil, err
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, err
	}
	base := filepath.Join(ca.dir, fmt.Sprintf("%s-%d", sanitize(cn), ca.n))
	p := &Pair{CertFile: base + ".pem", KeyFile: base + ".key"}
	if err := writePEM(p.CertFile, "CERTIFICATE", der); err != nil {
		return nil, err
	}
	if err := writePEM(p.KeyFile, "EC PRIVATE KEY", kder); err != nil {
		return nil, err
	}
	if p.TLS, err = tls.LoadX509KeyPair(p.CertFile, p.KeyFile); err != nil {
		return nil, err
	}
	return p, nil
}

func sanitize(s string) string {
	out := []byte(s)
	for i, c := range out {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '-') {
			out[i] = '_'
		}
	}
	return string(out)
}

func writePEM(path, typ string, der []byte) error {
	return os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600)
}

// ClientHello returns the first flight of Go's TLS client for cfg: its
// ClientHello records, as a server would read them.
func ClientHello(cfg *tls.Config) ([]byte, error) {
	cli, srv := net.Pipe()
	defer srv.Close()
	go func() {
		c := tls.Client(cli, cfg)
		c.SetDeadline(time.Now().Add(5 * time.Second))
		c.Handshake() // fails once srv closes; only its first flight matters
		cli.Close()
	}()
	// net.Pipe delivers each Write whole: the first Read is the hello.
	buf := make([]byte, 64<<10)
	srv.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := srv.Read(buf)
	if err != nil {
		return nil, err
	}
	return buf[:n], nil
}
