package httpproxy

import "fmt"

// Protocol is the HTTP version a Peer is spoken to in.
type Protocol uint8

// Upstream protocols.
const (
	// HTTP1 is HTTP/1.1, over TLS when Peer.TLS is set (the default).
	HTTP1 Protocol = iota
	// H2 is HTTP/2 over TLS (Peer.TLS must be set; ALPN offers only h2).
	H2
	// H2C is HTTP/2 over cleartext, with prior knowledge (RFC 9113 3.3).
	H2C
	// Auto is what ALPN chooses over TLS (h2, else http/1.1) and HTTP/1.1
	// over cleartext.
	Auto
	// H3 is HTTP/3 over QUIC (Peer.TLS must be set; Peer.Addr is a UDP
	// address). Requests share QUIC connections per peer.
	H3
)

var protocolNames = [...]string{HTTP1: "http1", H2: "h2", H2C: "h2c", Auto: "auto", H3: "h3"}

// String returns the protocol's config name.
func (p Protocol) String() string {
	if int(p) < len(protocolNames) {
		return protocolNames[p]
	}
	return fmt.Sprintf("Protocol(%d)", p)
}

// ParseProtocol parses a config name: http1 (or ""), h2, h2c or auto.
func ParseProtocol(s string) (Protocol, error) {
	if s == "" {
		return HTTP1, nil
	}
	for p, name := range protocolNames {
		if s == name {
			return Protocol(p), nil
		}
	}
	return 0, fmt.Errorf("httpproxy: unknown upstream protocol %q (want http1, h2, h2c, auto or h3)", s)
}

// multiplexed reports whether p may put the request on a shared HTTP/2
// connection (Auto only when ALPN can choose it).
func (p *Peer) multiplexed() bool {
	switch p.Protocol {
	case H2, H2C, H3:
		return true
	case Auto:
		return p.TLS != nil
	}
	return false
}
