package transport

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
)

// ClientTLS configures TLS towards an upstream (NewTLSClient). The zero
// value verifies the upstream's certificate and name against the system's
// roots, with the address's host as SNI.
type ClientTLS struct {
	// SNI is the server name sent and verified; empty means the host of
	// the address dialled (no SNI for an IP address, whose certificate
	// must then name the IP).
	SNI string
	// SkipVerifyCert accepts any certificate, unverified (Pingora's
	// verify_cert: false). Loud in logs; for tests and broken upstreams.
	SkipVerifyCert bool
	// SkipVerifyHostname verifies the chain but not the name
	// (verify_hostname: false).
	SkipVerifyHostname bool
	// AlternativeCN is a second name accepted for the certificate.
	AlternativeCN string
	// CA is a PEM file of the roots to verify against; empty means the
	// system's.
	CA string
	// Cert and Key are a client certificate and its key (PEM files), for
	// upstreams that require one.
	Cert, Key string
	// ALPN lists the protocols offered.
	ALPN []string
}

// ErrUpstreamTLS wraps every failure of a handshake with an upstream
// (DialTLS): a certificate that does not verify, a name that does not
// match, a refused handshake.
var ErrUpstreamTLS = errors.New("transport: upstream TLS handshake failed")

// NewTLSClient builds the tls.Config of c; its files are read now.
func NewTLSClient(c ClientTLS) (*tls.Config, error) {
	cfg := &tls.Config{ServerName: c.SNI, NextProtos: c.ALPN, MinVersion: tls.VersionTLS12}
	if c.CA != "" {
		pem, err := os.ReadFile(c.CA)
		if err != nil {
			return nil, fmt.Errorf("transport: upstream CA: %w", err)
		}
		cfg.RootCAs = x509.NewCertPool()
		if !cfg.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("transport: upstream CA %s: no PEM certificate in it", c.CA)
		}
	}
	if (c.Cert == "") != (c.Key == "") {
		return nil, errors.New("transport: an upstream client certificate needs both Cert and Key")
	}
	if c.Cert != "" {
		pair, err := tls.LoadX509KeyPair(c.Cert, c.Key)
		if err != nil {
			return nil, fmt.Errorf("transport: upstream client certificate: %w", err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	switch {
	case c.SkipVerifyCert:
		cfg.InsecureSkipVerify = true
	case c.SkipVerifyHostname || c.AlternativeCN != "":
		// crypto/tls checks one name; verify the chain here, and the
		// name against either.
		cfg.InsecureSkipVerify = true
		roots, hostname, alt := cfg.RootCAs, !c.SkipVerifyHostname, c.AlternativeCN
		cfg.VerifyConnection = func(cs tls.ConnectionState) error {
			return verifyUpstream(cs, roots, hostname, alt)
		}
	}
	return cfg, nil
}

// verifyUpstream verifies an upstream's chain against roots (nil: the
// system's) and, when hostname is set, its name: the SNI or alt.
func verifyUpstream(cs tls.ConnectionState, roots *x509.CertPool, hostname bool, alt string) error {
	if len(cs.PeerCertificates) == 0 {
		return errors.New("the upstream sent no certificate")
	}
	opts := x509.VerifyOptions{Roots: roots, Intermediates: x509.NewCertPool()}
	for _, c := range cs.PeerCertificates[1:] {
		opts.Intermediates.AddCert(c)
	}
	leaf := cs.PeerCertificates[0]
	if _, err := leaf.Verify(opts); err != nil {
		return err
	}
	if !hostname {
		return nil
	}
	err := leaf.VerifyHostname(cs.ServerName)
	if err != nil && alt != "" && leaf.VerifyHostname(alt) == nil {
		return nil
	}
	return err
}

// DialTLS completes a TLS handshake over c, an upstream connection to
// addr, under ctx: the SNI is cfg's, else addr's host. A failure closes c
// and wraps ErrUpstreamTLS.
func DialTLS(ctx context.Context, c net.Conn, addr string, cfg *tls.Config) (*tls.Conn, error) {
	if cfg.ServerName == "" {
		if host, _, err := net.SplitHostPort(addr); err == nil {
			cfg = cfg.Clone() // rare: a config without SNI, for a named host
			cfg.ServerName = host
		}
	}
	tc := tls.Client(c, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		c.Close()
		if ctx.Err() != nil {
			return nil, fmt.Errorf("transport: upstream TLS handshake with %s: %w", addr, ctx.Err())
		}
		return nil, fmt.Errorf("%w: %s: %w", ErrUpstreamTLS, addr, err)
	}
	return tc, nil
}
