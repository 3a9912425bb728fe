package vstream

import (
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"strings"
	"time"
)

// TLSInfo is what sluice records of a TLS handshake, the Go form of
// Pingora's SslDigest: version, cipher, the names negotiated, resumption,
// timing, the client's fingerprint, and the peer's leaf certificate.
type TLSInfo struct {
	// Version and Cipher are crypto/tls's names ("TLS 1.3",
	// "TLS_AES_128_GCM_SHA256").
	Version, Cipher string
	// ServerName is the SNI the client sent; ALPN the protocol agreed.
	ServerName, ALPN string
	// Resumed is set for a resumed session.
	Resumed bool
	// HandshakeDuration is from the ClientHello's first byte read to the
	// handshake's end.
	HandshakeDuration time.Duration
	// JA4 is the ClientHello's JA4 fingerprint (server side only).
	JA4 string
	// PeerSubject, PeerOrganization and PeerSerial describe the peer's
	// leaf certificate (a client certificate on a server); PeerSHA256 is
	// the hex SHA-256 of its DER. Empty without one.
	PeerSubject, PeerOrganization, PeerSerial, PeerSHA256 string
}

// NewTLSInfo summarises cs.
func NewTLSInfo(cs *tls.ConnectionState) *TLSInfo {
	ti := &TLSInfo{
		Version:    tls.VersionName(cs.Version),
		Cipher:     tls.CipherSuiteName(cs.CipherSuite),
		ServerName: cs.ServerName,
		ALPN:       cs.NegotiatedProtocol,
		Resumed:    cs.DidResume,
	}
	if len(cs.PeerCertificates) > 0 {
		leaf := cs.PeerCertificates[0]
		ti.PeerSubject = leaf.Subject.String()
		ti.PeerOrganization = strings.Join(leaf.Subject.Organization, ",")
		ti.PeerSerial = leaf.SerialNumber.Text(16)
		sum := sha256.Sum256(leaf.Raw)
		ti.PeerSHA256 = hex.EncodeToString(sum[:])
	}
	return ti
}
