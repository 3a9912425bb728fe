// Package tlshello reads a TLS ClientHello ahead of a TLS server, without
// consuming it: Read gathers the handshake records that carry the hello
// (reassembling one split over several records, up to a size limit) and
// returns the parsed hello together with every byte it read, for the
// caller to replay to whoever handles the connection next — a TLS server,
// or an upstream when sluice routes on the hello without terminating.
//
// The parser is strict where RFC 8446 says MUST (lengths that add up, no
// duplicate extensions, a host_name SNI of ASCII letters, digits, '-' and
// '.'), knows nothing of proxies, and keeps what routing and filtering
// need: SNI, ALPN, versions, cipher suites, extensions in order, signature
// algorithms and groups. JA4 computes the JA4 fingerprint of a hello.
package tlshello

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
)

// MaxSize is the default bound of Read: the most handshake bytes it
// gathers for one ClientHello (record headers aside).
const MaxSize = 16 << 10

// Errors, matched with errors.Is.
var (
	// ErrNotTLS: the first bytes are not a TLS handshake record.
	ErrNotTLS = errors.New("tlshello: not a TLS handshake")
	// ErrTooLarge: the ClientHello is longer than the limit.
	ErrTooLarge = errors.New("tlshello: ClientHello over the size limit")
	// ErrMalformed: the bytes break the ClientHello's grammar.
	ErrMalformed = errors.New("tlshello: malformed ClientHello")
)

// Record and handshake types.
const (
	recordHandshake  = 22
	typeClientHello  = 1
	recordHeaderLen  = 5
	maxRecordPayload = 1<<14 + 256 // a TLSPlaintext fragment, with slack for TLSCompressed
)

// Extension types the parser reads.
const (
	extServerName          = 0x0000
	extSupportedGroups     = 0x000a
	extSignatureAlgorithms = 0x000d
	extALPN                = 0x0010
	extSupportedVersions   = 0x002b
)

// Hello is what a ClientHello says. Its slices are its own.
type Hello struct {
	// Version is legacy_version (0x0303 for TLS 1.2 and 1.3 clients).
	Version uint16
	// SupportedVersions lists the supported_versions extension, in order
	// (GREASE included); empty without it.
	SupportedVersions []uint16
	// ServerName is the SNI host name, lower-cased; empty without SNI.
	ServerName string
	// ALPN lists the protocols offered, in order.
	ALPN []string
	// CipherSuites, Extensions (their types), SignatureAlgorithms and
	// SupportedGroups are listed in the client's order, GREASE included.
	CipherSuites        []uint16
	Extensions          []uint16
	SignatureAlgorithms []uint16
	SupportedGroups     []uint16
}

// MaxVersion is the highest version offered: the highest non-GREASE value
// of supported_versions, else legacy_version.
func (h *Hello) MaxVersion() uint16 {
	var v uint16
	for _, sv := range h.SupportedVersions {
		if !IsGREASE(sv) && sv > v {
			v = sv
		}
	}
	if v == 0 {
		return h.Version
	}
	return v
}

// IsGREASE reports whether v is a GREASE value (RFC 8701): 0x?a?a with
// both bytes equal.
func IsGREASE(v uint16) bool { return v&0x0f0f == 0x0a0a && v>>8 == v&0xff }

// Read reads TLS handshake records from r until a whole ClientHello is in
// (at most max bytes of it; max ≤ 0 means MaxSize) and returns it parsed,
// with every byte read from r, records and anything after the hello in the
// last read alike, so the caller can replay them. On error the bytes read
// so far are returned too.
func Read(r io.Reader, max int) (*Hello, []byte, error) {
	if max <= 0 {
		max = MaxSize
	}
	var (
		raw  = make([]byte, 0, 1024)
		msg  []byte // the handshake bytes gathered
		next int    // offset in raw of the next record header
	)
	for {
		// One record: its header, then its payload.
		for len(raw)-next < recordHeaderLen {
			var err error
			if raw, err = readMore(r, raw); err != nil {
				return nil, raw, eofIsTruncation(err)
			}
			if next == 0 && len(raw) > 0 && raw[0] != recordHandshake {
				return nil, raw, fmt.Errorf("%w: first byte 0x%02x", ErrNotTLS, raw[0])
			}
		}
		hdr := raw[next : next+recordHeaderLen]
		if hdr[0] != recordHandshake || hdr[1] != 3 {
			if next == 0 {
				return nil, raw, fmt.Errorf("%w: record type %d, version %d.%d", ErrNotTLS, hdr[0], hdr[1], hdr[2])
			}
			return nil, raw, fmt.Errorf("%w: a record of type %d inside the ClientHello", ErrMalformed, hdr[0])
		}
		n := int(binary.BigEndian.Uint16(hdr[3:]))
		if n == 0 || n > maxRecordPayload {
			return nil, raw, fmt.Errorf("%w: record length %d", ErrMalformed, n)
		}
		if len(msg)+n > max+4 {
			return nil, raw, fmt.Errorf("%w (%d bytes)", ErrTooLarge, max)
		}
		for len(raw)-next < recordHeaderLen+n {
			var err error
			if raw, err = readMore(r, raw); err != nil {
				return nil, raw, eofIsTruncation(err)
			}
		}
		msg = append(msg, raw[next+recordHeaderLen:next+recordHeaderLen+n]...)
		next += recordHeaderLen + n
		if len(msg) < 4 {
			continue
		}
		if msg[0] != typeClientHello {
			return nil, raw, fmt.Errorf("%w: handshake type %d, not a ClientHello", ErrNotTLS, msg[0])
		}
		want := 4 + (int(msg[1])<<16 | int(msg[2])<<8 | int(msg[3]))
		if want-4 > max {
			return nil, raw, fmt.Errorf("%w: %d bytes announced, limit %d", ErrTooLarge, want-4, max)
		}
		if len(msg) >= want {
			if len(msg) > want {
				return nil, raw, fmt.Errorf("%w: %d bytes after the ClientHello in its records", ErrMalformed, len(msg)-want)
			}
			h, err := Parse(msg)
			return h, raw, err
		}
	}
}

// readMore appends what one Read of r returns to buf.
func readMore(r io.Reader, buf []byte) ([]byte, error) {
	if len(buf) == cap(buf) {
		buf = append(buf, 0)[:len(buf)]
	}
	n, err := r.Read(buf[len(buf):cap(buf)])
	buf = buf[:len(buf)+n]
	if n > 0 {
		return buf, nil
	}
	if err == nil {
		err = io.ErrNoProgress
	}
	return buf, err
}

// eofIsTruncation turns an end of stream inside the hello into
// io.ErrUnexpectedEOF (wrapped with ErrMalformed); other errors pass.
func eofIsTruncation(err error) error {
	if errors.Is(err, io.EOF) {
		return fmt.Errorf("%w: %w", ErrMalformed, io.ErrUnexpectedEOF)
	}
	return err
}

// Parse parses a ClientHello handshake message: its type (1), 3-byte
// length and body, and nothing after.
func Parse(msg []byte) (*Hello, error) {
	s := cursor(msg)
	typ, ok := s.u8()
	if !ok || typ != typeClientHello {
		return nil, fmt.Errorf("%w: not a ClientHello message", ErrMalformed)
	}
	body, ok := s.bytes24()
	if !ok || len(s) != 0 {
		return nil, fmt.Errorf("%w: message length does not match", ErrMalformed)
	}
	return parseBody(body)
}

// parseBody parses the ClientHello body (RFC 8446 4.1.2).
func parseBody(b cursor) (*Hello, error) {
	h := &Hello{}
	var ok bool
	if h.Version, ok = b.u16(); !ok {
		return nil, bad("legacy_version")
	}
	if _, ok = b.fixed(32); !ok {
		return nil, bad("random")
	}
	if sid, ok := b.bytes8(); !ok || len(sid) > 32 {
		return nil, bad("legacy_session_id")
	}
	suites, ok := b.bytes16()
	if !ok || len(suites) < 2 || len(suites)%2 != 0 {
		return nil, bad("cipher_suites")
	}
	h.CipherSuites = suites.u16s()
	if comp, ok := b.bytes8(); !ok || len(comp) < 1 {
		return nil, bad("legacy_compression_methods")
	}
	if len(b) == 0 {
		return h, nil // no extensions (TLS 1.2 and earlier may omit them)
	}
	exts, ok := b.bytes16()
	if !ok || len(b) != 0 {
		return nil, bad("extensions length")
	}
	for len(exts) > 0 {
		typ, ok1 := exts.u16()
		data, ok2 := exts.bytes16()
		if !ok1 || !ok2 {
			return nil, bad("extension")
		}
		for _, seen := range h.Extensions {
			if seen == typ {
				return nil, fmt.Errorf("%w: extension 0x%04x twice", ErrMalformed, typ)
			}
		}
		h.Extensions = append(h.Extensions, typ)
		if err := h.extension(typ, data); err != nil {
			return nil, err
		}
	}
	return h, nil
}

// extension reads the extensions Hello keeps; others are only listed.
func (h *Hello) extension(typ uint16, data cursor) error {
	switch typ {
	case extServerName:
		return h.serverName(data)
	case extALPN:
		list, ok := data.bytes16()
		if !ok || len(data) != 0 || len(list) == 0 {
			return bad("application_layer_protocol_negotiation")
		}
		for len(list) > 0 {
			p, ok := list.bytes8()
			if !ok || len(p) == 0 {
				return bad("application_layer_protocol_negotiation")
			}
			h.ALPN = append(h.ALPN, string(p))
		}
	case extSupportedVersions:
		list, ok := data.bytes8()
		if !ok || len(data) != 0 || len(list) < 2 || len(list)%2 != 0 {
			return bad("supported_versions")
		}
		h.SupportedVersions = list.u16s()
	case extSignatureAlgorithms:
		list, ok := data.bytes16()
		if !ok || len(data) != 0 || len(list) < 2 || len(list)%2 != 0 {
			return bad("signature_algorithms")
		}
		h.SignatureAlgorithms = list.u16s()
	case extSupportedGroups:
		list, ok := data.bytes16()
		if !ok || len(data) != 0 || len(list) < 2 || len(list)%2 != 0 {
			return bad("supported_groups")
		}
		h.SupportedGroups = list.u16s()
	}
	return nil
}

// serverName reads server_name (RFC 6066 3): one host_name, a DNS name of
// ASCII letters, digits, '-' and '.', without a trailing dot.
func (h *Hello) serverName(data cursor) error {
	list, ok := data.bytes16()
	if !ok || len(data) != 0 || len(list) == 0 {
		return bad("server_name")
	}
	for len(list) > 0 {
		typ, ok1 := list.u8()
		name, ok2 := list.bytes16()
		if !ok1 || !ok2 {
			return bad("server_name")
		}
		if typ != 0 {
			continue // unknown name types are skipped
		}
		if h.ServerName != "" {
			return bad("server_name: two host names")
		}
		if !validHostName(name) {
			return fmt.Errorf("%w: server_name %q is not a host name", ErrMalformed, name)
		}
		h.ServerName = strings.ToLower(string(name))
	}
	return nil
}

// validHostName reports whether b is a host name SNI may carry.
func validHostName(b []byte) bool {
	if len(b) == 0 || len(b) > 253 || b[len(b)-1] == '.' || b[0] == '.' {
		return false
	}
	for i, c := range b {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '_':
		case c == '.' && b[i-1] != '.':
		default:
			return false
		}
	}
	return true
}

func bad(what string) error { return fmt.Errorf("%w: %s", ErrMalformed, what) }

// cursor reads big-endian fields off the front of a byte slice.
type cursor []byte

func (c *cursor) u8() (uint8, bool) {
	if len(*c) < 1 {
		return 0, false
	}
	v := (*c)[0]
	*c = (*c)[1:]
	return v, true
}

func (c *cursor) u16() (uint16, bool) {
	if len(*c) < 2 {
		return 0, false
	}
	v := binary.BigEndian.Uint16(*c)
	*c = (*c)[2:]
	return v, true
}

func (c *cursor) fixed(n int) (cursor, bool) {
	if len(*c) < n {
		return nil, false
	}
	v := (*c)[:n]
	*c = (*c)[n:]
	return v, true
}

func (c *cursor) bytes8() (cursor, bool) {
	n, ok := c.u8()
	if !ok {
		return nil, false
	}
	return c.fixed(int(n))
}

func (c *cursor) bytes16() (cursor, bool) {
	n, ok := c.u16()
	if !ok {
		return nil, false
	}
	return c.fixed(int(n))
}

func (c *cursor) bytes24() (cursor, bool) {
	if len(*c) < 3 {
		return nil, false
	}
	n := int((*c)[0])<<16 | int((*c)[1])<<8 | int((*c)[2])
	*c = (*c)[3:]
	return c.fixed(n)
}

// u16s reads the whole cursor as a list of uint16.
func (c cursor) u16s() []uint16 {
	out := make([]uint16, 0, len(c)/2)
	for i := 0; i+1 < len(c); i += 2 {
		out = append(out, binary.BigEndian.Uint16(c[i:]))
	}
	return out
}
