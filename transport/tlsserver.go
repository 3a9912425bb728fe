package transport

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// CertFiles names a certificate chain and its private key, PEM files.
type CertFiles struct{ Cert, Key string }

// ServerTLS configures TLS termination (NewTLSServer). The zero value of
// each field is its default.
type ServerTLS struct {
	// Certificates are chosen by the client's SNI against each
	// certificate's names: exact first, then a *.wildcard covering one
	// label. The first is the default for a hello without SNI or with an
	// unknown name. At least one is required.
	Certificates []CertFiles
	// StrictSNI drops the default: a hello whose SNI names no certificate
	// (or has none) fails with the unrecognized_name alert.
	StrictSNI bool
	// ClientAuth asks for client certificates: tls.NoClientCert (the
	// default), tls.VerifyClientCertIfGiven ("request": verified when
	// sent) or tls.RequireAndVerifyClientCert ("require"). Verification is
	// against ClientCA.
	ClientAuth tls.ClientAuthType
	// ClientCA is the PEM file of the CAs client certificates must chain
	// to; required with ClientAuth.
	ClientCA string
	// ALPN lists the protocols offered, in preference order.
	ALPN []string
	// MinVersion is the lowest TLS version accepted: 0 means TLS 1.2.
	MinVersion uint16
	// DisableSessionTickets turns resumption by tickets off. Ticket keys
	// are made and rotated in memory unless TicketKeyFile is set.
	DisableSessionTickets bool
	// TicketKeyFile holds session ticket keys shared by several instances:
	// 32-byte keys, one after the other, the first encrypting new tickets.
	TicketKeyFile string
}

// TLSServer holds a ServerTLS's certificates and CAs, loaded, and
// re-reads them on Reload (and, with Watch, when their files change): a
// bad new file keeps the old contents. Its Config is what tls.Server takes;
// every handshake sees the files as last loaded.
type TLSServer struct {
	cfg  ServerTLS
	base *tls.Config
	cur  atomic.Pointer[tlsSnapshot]

	mu     sync.Mutex // serialises Reload
	mtimes map[string]time.Time
}

// tlsSnapshot is one loading of the files.
type tlsSnapshot struct {
	certs   []*tls.Certificate
	exact   map[string]*tls.Certificate
	wild    map[string]*tls.Certificate // by the parent domain of "*.parent"
	clients *x509.CertPool
	config  *tls.Config // what GetConfigForClient hands out
}

// NewTLSServer loads cfg's files. It fails when one cannot be read or
// parsed, or cfg is incomplete.
func NewTLSServer(cfg ServerTLS) (*TLSServer, error) {
	if len(cfg.Certificates) == 0 {
		return nil, errors.New("transport: TLS needs at least one certificate")
	}
	if cfg.ClientAuth != tls.NoClientCert && cfg.ClientCA == "" {
		return nil, errors.New("transport: client certificate verification needs a ClientCA file")
	}
	if cfg.MinVersion == 0 {
		cfg.MinVersion = tls.VersionTLS12
	}
	s := &TLSServer{cfg: cfg, mtimes: map[string]time.Time{}}
	s.base = &tls.Config{
		MinVersion:             cfg.MinVersion,
		SessionTicketsDisabled: cfg.DisableSessionTickets,
	}
	s.base.GetConfigForClient = func(*tls.ClientHelloInfo) (*tls.Config, error) { return s.cur.Load().config, nil }
	if err := s.Reload(); err != nil {
		return nil, err
	}
	return s, nil
}

// Config returns the tls.Config to serve with.
func (s *TLSServer) Config() *tls.Config { return s.base }

// Strict reports whether unknown server names are refused.
func (s *TLSServer) Strict() bool { return s.cfg.StrictSNI }

// Knows reports whether the certificates cover name (lower-case); with
// StrictSNI a hello naming no known name is refused.
func (s *TLSServer) Knows(name string) bool { return s.cur.Load().lookup(name) != nil }

// Reload re-reads every file. On any error the certificates, CAs and
// ticket keys in use stay, and the error says which file failed.
func (s *TLSServer) Reload() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	snap, err := s.load()
	if err != nil {
		return err
	}
	if s.cfg.TicketKeyFile != "" {
		keys, err := readTicketKeys(s.cfg.TicketKeyFile)
		if err != nil {
			return err
		}
		s.base.SetSessionTicketKeys(keys)
	}
	s.cur.Store(snap)
	for _, f := range s.files() {
		if fi, err := os.Stat(f); err == nil {
			s.mtimes[f] = fi.ModTime()
		}
	}
	return nil
}

// Changed reports whether a file changed (its modification time) since
// the last successful Reload.
func (s *TLSServer) Changed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, f := range s.files() {
		fi, err := os.Stat(f)
		if err != nil || !fi.ModTime().Equal(s.mtimes[f]) {
			return true
		}
	}
	return false
}

// Watch calls Reload whenever Changed, checking every interval until stop
// is closed, and tells onReload (which may be nil) each outcome: nil, or
// the error that kept the old files in use.
func (s *TLSServer) Watch(stop <-chan struct{}, interval time.Duration, onReload func(error)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		if !s.Changed() {
			continue
		}
		if err := s.Reload(); onReload != nil {
			onReload(err)
		}
	}
}

// Expiries returns each certificate's leaf expiry, by its first name.
func (s *TLSServer) Expiries() map[string]time.Time {
	out := map[string]time.Time{}
	for _, c := range s.cur.Load().certs {
		if c.Leaf != nil {
			out[certName(c.Leaf)] = c.Leaf.NotAfter
		}
	}
	return out
}

// files lists the files the server reads.
func (s *TLSServer) files() []string {
	var fs []string
	for _, c := range s.cfg.Certificates {
		fs = append(fs, c.Cert, c.Key)
	}
	if s.cfg.ClientCA != "" {
		fs = append(fs, s.cfg.ClientCA)
	}
	if s.cfg.TicketKeyFile != "" {
		fs = append(fs, s.cfg.TicketKeyFile)
	}
	return fs
}

// load reads the certificates and the CA file into a snapshot.
func (s *TLSServer) load() (*tlsSnapshot, error) {
	snap := &tlsSnapshot{exact: map[string]*tls.Certificate{}, wild: map[string]*tls.Certificate{}}
	for _, f := range s.cfg.Certificates {
		c, err := tls.LoadX509KeyPair(f.Cert, f.Key)
		if err != nil {
			return nil, fmt.Errorf("transport: certificate %s / %s: %w", f.Cert, f.Key, err)
		}
		cert := &c
		snap.certs = append(snap.certs, cert)
		for _, name := range certNames(cert.Leaf) {
			name = strings.ToLower(name)
			if parent, ok := strings.CutPrefix(name, "*."); ok {
				if _, dup := snap.wild[parent]; !dup {
					snap.wild[parent] = cert
				}
			} else if _, dup := snap.exact[name]; !dup {
				snap.exact[name] = cert
			}
		}
	}
	if s.cfg.ClientCA != "" {
		pem, err := os.ReadFile(s.cfg.ClientCA)
		if err != nil {
			return nil, fmt.Errorf("transport: client CA: %w", err)
		}
		snap.clients = x509.NewCertPool()
		if !snap.clients.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("transport: client CA %s: no PEM certificate in it", s.cfg.ClientCA)
		}
	}
	cfg := s.base.Clone()
	cfg.GetConfigForClient = nil
	cfg.GetCertificate = snap.certificate(s.cfg.StrictSNI)
	cfg.NextProtos = s.cfg.ALPN
	cfg.ClientAuth = s.cfg.ClientAuth
	cfg.ClientCAs = snap.clients
	snap.config = cfg
	return snap, nil
}

// lookup finds the certificate for name: exact, then a wildcard covering
// its first label.
func (snap *tlsSnapshot) lookup(name string) *tls.Certificate {
	if c := snap.exact[name]; c != nil {
		return c
	}
	if _, parent, ok := strings.Cut(name, "."); ok {
		return snap.wild[parent]
	}
	return nil
}

// certificate is the GetCertificate of a snapshot: by SNI, else the
// default (the first) unless strict. Returning nil with no
// Config.Certificates makes crypto/tls send unrecognized_name.
func (snap *tlsSnapshot) certificate(strict bool) func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return func(hi *tls.ClientHelloInfo) (*tls.Certificate, error) {
		if c := snap.lookup(strings.ToLower(hi.ServerName)); c != nil {
			return c, nil
		}
		if strict {
			return nil, nil
		}
		return snap.certs[0], nil
	}
}

// certNames are the DNS names a certificate is for (its common name when
// it has none).
func certNames(leaf *x509.Certificate) []string {
	if leaf == nil {
		return nil
	}
	if len(leaf.DNSNames) > 0 {
		return leaf.DNSNames
	}
	if leaf.Subject.CommonName != "" {
		return []string{leaf.Subject.CommonName}
	}
	return nil
}

func certName(leaf *x509.Certificate) string {
	if names := certNames(leaf); len(names) > 0 {
		return names[0]
	}
	sum := sha256.Sum256(leaf.Raw)
	return fmt.Sprintf("sha256:%x", sum[:8])
}

// readTicketKeys reads 32-byte session ticket keys from path.
func readTicketKeys(path string) ([][32]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("transport: ticket keys: %w", err)
	}
	if len(b) == 0 || len(b)%32 != 0 {
		return nil, fmt.Errorf("transport: ticket keys %s: %d bytes, want a multiple of 32", path, len(b))
	}
	keys := make([][32]byte, len(b)/32)
	for i := range keys {
		copy(keys[i][:], b[i*32:])
	}
	return keys, nil
}
