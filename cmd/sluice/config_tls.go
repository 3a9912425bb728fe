package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"os"
	"strings"
	"time"

	"github.com/sluice-proxy/sluice/shell"
	"github.com/sluice-proxy/sluice/transport"
)

// tlsSection is the tls: section of a tcp: or http: service: TLS
// termination on its listeners.
type tlsSection struct {
	Certificates     []certSection     `yaml:"certificates"`
	StrictSNI        bool              `yaml:"strict_sni"`
	ClientAuth       clientAuthSection `yaml:"client_auth"`
	ALPN             []string          `yaml:"alpn"`
	MinVersion       string            `yaml:"min_version"`
	HandshakeTimeout string            `yaml:"handshake_timeout"`
	SessionTickets   *bool             `yaml:"session_tickets"`
	TicketKeyFile    string            `yaml:"ticket_key_file"`
}

type certSection struct {
	Cert string `yaml:"cert"`
	Key  string `yaml:"key"`
}

type clientAuthSection struct {
	Mode string `yaml:"mode"`
	CA   string `yaml:"ca"`
}

// TLSConfig is a validated tls: section.
type TLSConfig struct {
	Server           transport.ServerTLS
	HandshakeTimeout time.Duration
}

// tls validates a tls: section; alpn is the default protocol list (what
// the service serves).
func (v *validator) tls(p []any, s *tlsSection, alpn []string) (*TLSConfig, error) {
	c := &TLSConfig{Server: transport.ServerTLS{StrictSNI: s.StrictSNI, ALPN: s.ALPN, TicketKeyFile: s.TicketKeyFile}}
	if len(s.Certificates) == 0 {
		return nil, v.fail(at(p, "certificates"), "at least one {cert, key} is required")
	}
	for i, cs := range s.Certificates {
		cp := at(p, "certificates", i)
		if cs.Cert == "" || cs.Key == "" {
			return nil, v.fail(cp, "cert and key are both required")
		}
		if _, err := tls.LoadX509KeyPair(cs.Cert, cs.Key); err != nil {
			return nil, v.fail(cp, "%v", err)
		}
		c.Server.Certificates = append(c.Server.Certificates, transport.CertFiles{Cert: cs.Cert, Key: cs.Key})
	}
	ap := at(p, "client_auth")
	switch s.ClientAuth.Mode {
	case "", "none":
		if s.ClientAuth.CA != "" {
			return nil, v.fail(at(ap, "ca"), "only used with mode: request or require")
		}
	case "request":
		c.Server.ClientAuth = tls.VerifyClientCertIfGiven
	case "require":
		c.Server.ClientAuth = tls.RequireAndVerifyClientCert
	default:
		return nil, v.fail(at(ap, "mode"), "unknown mode %q (none, request, require)", s.ClientAuth.Mode)
	}
	if c.Server.ClientAuth != tls.NoClientCert {
		if s.ClientAuth.CA == "" {
			return nil, v.fail(at(ap, "ca"), "required with mode: %s", s.ClientAuth.Mode)
		}
		pem, err := os.ReadFile(s.ClientAuth.CA)
		if err != nil {
			return nil, v.fail(at(ap, "ca"), "%v", err)
		}
		if !x509.NewCertPool().AppendCertsFromPEM(pem) {
			return nil, v.fail(at(ap, "ca"), "no PEM certificate in %s", s.ClientAuth.CA)
		}
		c.Server.ClientCA = s.ClientAuth.CA
	}
	if len(c.Server.ALPN) == 0 {
		c.Server.ALPN = alpn
	}
	switch s.MinVersion {
	case "", "1.2":
		c.Server.MinVersion = tls.VersionTLS12
	case "1.3":
		c.Server.MinVersion = tls.VersionTLS13
	default:
		return nil, v.fail(at(p, "min_version"), "unknown version %q (\"1.2\", \"1.3\")", s.MinVersion)
	}
	var err error
	if c.HandshakeTimeout, err = v.duration(at(p, "handshake_timeout"), s.HandshakeTimeout, shell.DefaultHandshakeTimeout); err != nil {
		return nil, err
	}
	if err := v.atLeast(at(p, "handshake_timeout"), c.HandshakeTimeout, minTimeout, zeroRefused); err != nil {
		return nil, err
	}
	c.Server.DisableSessionTickets = s.SessionTickets != nil && !*s.SessionTickets
	if s.TicketKeyFile != "" {
		b, err := os.ReadFile(s.TicketKeyFile)
		if err != nil {
			return nil, v.fail(at(p, "ticket_key_file"), "%v", err)
		}
		if len(b) == 0 || len(b)%32 != 0 {
			return nil, v.fail(at(p, "ticket_key_file"), "%d bytes: want one or more 32-byte keys", len(b))
		}
	}
	return c, nil
}

// tlsTerm builds the shell.TLS of a service from its validated section;
// nil without one. The server is also returned, for reloads.
func (a *app) tlsTerm(name string, c *TLSConfig) (*shell.TLS, *transport.TLSServer, error) {
	if c == nil {
		return nil, nil, nil
	}
	srv, err := transport.NewTLSServer(c.Server)
	if err != nil {
		return nil, nil, err
	}
	a.tlsMetrics.Certificates(name, srv, nil)
	return &shell.TLS{Server: srv, HandshakeTimeout: c.HandshakeTimeout, Metrics: a.tlsMetrics}, srv, nil
}

// watchTLS re-reads srv's files whenever they change, until ctx ends.
func (a *app) watchTLS(ctx context.Context, name string, srv *transport.TLSServer) {
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		srv.Watch(ctx.Done(), 5*time.Second, func(err error) {
			a.tlsMetrics.Certificates(name, srv, err)
			if err != nil {
				a.log.Error("TLS files changed but could not be loaded; keeping the previous ones", "service", name, "error", err)
				return
			}
			a.log.Info("TLS files reloaded", "service", name)
		})
	}()
}

// reloadTLS re-reads srv's files (SIGHUP); on error the old ones stay.
func (a *app) reloadTLS(name string, srv *transport.TLSServer) error {
	if srv == nil {
		return nil
	}
	err := srv.Reload()
	a.tlsMetrics.Certificates(name, srv, err)
	return err
}

// upstreamTLSSection is an upstream's tls: TLS from sluice to it.
type upstreamTLSSection struct {
	SNI            string   `yaml:"sni"`
	VerifyCert     *bool    `yaml:"verify_cert"`
	VerifyHostname *bool    `yaml:"verify_hostname"`
	AlternativeCN  string   `yaml:"alternative_cn"`
	CA             string   `yaml:"ca"`
	Cert           string   `yaml:"cert"`
	Key            string   `yaml:"key"`
	ALPN           []string `yaml:"alpn"`
}

// upstreamTLS validates an upstream's tls: section; its files are read
// now, so a fault is reported with its key.
func (v *validator) upstreamTLS(p []any, s *upstreamTLSSection) (*transport.ClientTLS, error) {
	c := &transport.ClientTLS{
		SNI:                s.SNI,
		SkipVerifyCert:     s.VerifyCert != nil && !*s.VerifyCert,
		SkipVerifyHostname: s.VerifyHostname != nil && !*s.VerifyHostname,
		AlternativeCN:      s.AlternativeCN,
		CA:                 s.CA,
		Cert:               s.Cert,
		Key:                s.Key,
		ALPN:               s.ALPN,
	}
	if (s.Cert == "") != (s.Key == "") {
		return nil, v.fail(at(p, "cert"), "cert and key go together")
	}
	if _, err := transport.NewTLSClient(*c); err != nil {
		key := "ca"
		if s.Cert != "" && !strings.Contains(err.Error(), "CA") {
			key = "cert"
		}
		return nil, v.fail(at(p, key), "%v", err)
	}
	return c, nil
}
