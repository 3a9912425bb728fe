package httpproxy

import (
	"bytes"
	"net"
	"net/netip"
	"strings"

	"github.com/sluice-proxy/sluice/protocols/http1"
)

// isHopByHop reports whether name is a field that describes one
// connection, not the message (RFC 9110 7.6.1), or a proxy-authentication
// field, meant for the proxy a client talks to.
func isHopByHop(name []byte) bool {
	var want string
	switch len(name) {
	case 2:
		want = "TE"
	case 7:
		want = "Upgrade"
	case 10:
		if strings.EqualFold(string(name), "Keep-Alive") {
			return true
		}
		want = "Connection"
	case 16:
		want = "Proxy-Connection"
	case 17:
		want = "Transfer-Encoding"
	case 18:
		want = "Proxy-Authenticate"
	case 19:
		want = "Proxy-Authorization"
	default:
		return false
	}
	return strings.EqualFold(string(name), want)
}

// stripHopByHop removes the hop-by-hop fields from h, including those the
// Connection field names, in one pass.
func stripHopByHop(h *http1.Header) {
	var named []string
	for _, f := range h.Fields() {
		if len(f.Name) != len("Connection") || !strings.EqualFold(string(f.Name), "Connection") {
			continue
		}
		for v := f.Value; len(v) > 0; {
			var tok []byte
			if i := bytes.IndexByte(v, ','); i >= 0 {
				tok, v = v[:i], v[i+1:]
			} else {
				tok, v = v, nil
			}
			tok = bytes.TrimSpace(tok)
			if len(tok) == 0 || strings.EqualFold(string(tok), "close") ||
				strings.EqualFold(string(tok), "keep-alive") || strings.EqualFold(string(tok), "upgrade") {
				continue
			}
			named = append(named, string(tok)) // rare: a field named for removal
		}
	}
	if named == nil {
		h.DelFunc(isHopByHop)
		return
	}
	h.DelFunc(func(name []byte) bool {
		if isHopByHop(name) {
			return true
		}
		for _, n := range named {
			if strings.EqualFold(string(name), n) {
				return true
			}
		}
		return false
	})
}

// buildUpstreamRequest fills up with the request to send upstream: a copy
// of the client's with hop-by-hop fields removed, HTTP/1.1, the upgrade
// fields when the client asked for one, and the forwarding fields the
// Service adds.
func (hc *h1conn) buildUpstreamRequest(s *Session, up *http1.Request) {
	req := &hc.req
	up.Reset()
	up.Method = req.Method
	up.Target = req.Target
	up.Version = 11
	up.Header.CopyFrom(&req.Header)
	up.Framing, up.ContentLength = req.Framing, req.ContentLength
	up.KeepAlive, up.Upgrade, up.ExpectContinue, up.Host = true, req.Upgrade, req.ExpectContinue, req.Host
	var upgrade []byte
	if req.Upgrade {
		upgrade = req.Header.Get("Upgrade")
	}
	stripHopByHop(&up.Header)
	if req.Framing == http1.Chunked {
		// Content-Length cannot be present (the codec refuses both), and the
		// framing is set again by exchange.
		up.Header.Del("Content-Length")
	}
	if upgrade != nil {
		up.Header.Set("Connection", "upgrade")
		up.Header.AddBytes([]byte("Upgrade"), upgrade)
	}
	// An absolute-form target names the host: it replaces Host (RFC 9112
	// 3.2.2), and the upstream gets the origin form. A request without a
	// host at all (HTTP/1.0) gets the peer's address, since HTTP/1.1
	// requires one.
	if authority, path, ok := splitAbsolute(req.Target); ok {
		up.Target = path
		up.Header.Del("Host")
		up.Header.AddBytes([]byte("Host"), authority)
	} else if !up.Header.Has("Host") {
		up.Header.Set("Host", s.Peer.Addr)
	}
	cfg := &hc.svc.cfg
	if cfg.XForwardedFor || cfg.Forwarded {
		hc.addForwarded(s, up)
	}
}

// splitAbsolute splits an absolute-form http(s) target into its authority
// and its origin form ("/" when it has no path).
func splitAbsolute(target []byte) (authority, path []byte, ok bool) {
	var rest []byte
	switch {
	case len(target) > 7 && strings.EqualFold(string(target[:7]), "http://"):
		rest = target[7:]
	case len(target) > 8 && strings.EqualFold(string(target[:8]), "https://"):
		rest = target[8:]
	default:
		return nil, nil, false
	}
	end := len(rest)
	for i, c := range rest {
		if c == '/' || c == '?' {
			end = i
			break
		}
	}
	authority, path = rest[:end], rest[end:]
	switch {
	case len(path) == 0:
		path = []byte("/")
	case path[0] == '?':
		path = append([]byte("/"), path...)
	}
	return authority, path, true
}

// addForwarded appends the client to X-Forwarded-For and/or Forwarded.
func (hc *h1conn) addForwarded(s *Session, up *http1.Request) {
	ip := clientIP(s.ClientAddr())
	scratch := hc.scratch[:0]
	defer func() { hc.scratch = scratch[:0] }()
	cfg := &hc.svc.cfg
	if cfg.XForwardedFor {
		scratch = scratch[:0]
		for _, f := range up.Header.Fields() {
			if strings.EqualFold(string(f.Name), "X-Forwarded-For") {
				scratch = append(append(scratch, f.Value...), ", "...)
			}
		}
		if ip.IsValid() {
			scratch = ip.AppendTo(scratch)
		} else {
			scratch = append(scratch, "unknown"...)
		}
		up.Header.Del("X-Forwarded-For")
		up.Header.AddBytes([]byte("X-Forwarded-For"), scratch)
		up.Header.Set("X-Forwarded-Proto", hc.scheme())
	}
	if cfg.Forwarded {
		scratch = scratch[:0]
		if prev := up.Header.Get("Forwarded"); prev != nil {
			for _, f := range up.Header.Fields() {
				if strings.EqualFold(string(f.Name), "Forwarded") {
					scratch = append(append(scratch, f.Value...), ", "...)
				}
			}
			up.Header.Del("Forwarded")
		}
		scratch = append(scratch, "for="...)
		switch {
		case !ip.IsValid():
			scratch = append(scratch, "unknown"...)
		case ip.Is6():
			scratch = append(scratch, `"[`...)
			scratch = ip.AppendTo(scratch)
			scratch = append(scratch, `]"`...)
		default:
			scratch = ip.AppendTo(scratch)
		}
		scratch = append(append(scratch, ";proto="...), hc.scheme()...)
		up.Header.AddBytes([]byte("Forwarded"), scratch)
	}
}

// scheme is the scheme the client used.
func (hc *h1conn) scheme() string {
	if hc.sess.Digest != nil && hc.sess.Digest.TLS != nil {
		return "https"
	}
	return "http"
}

// clientIP returns the IP of addr, or the zero Addr.
func clientIP(a net.Addr) netip.Addr {
	switch a := a.(type) {
	case *net.TCPAddr:
		ip, _ := netip.AddrFromSlice(a.IP)
		return ip.Unmap()
	case *net.UDPAddr:
		ip, _ := netip.AddrFromSlice(a.IP)
		return ip.Unmap()
	}
	if a == nil {
		return netip.Addr{}
	}
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}
