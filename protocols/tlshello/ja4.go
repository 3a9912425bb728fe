package tlshello

import (
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strconv"
	"strings"
)

// JA4 returns the hello's JA4 fingerprint (FoxIO's JA4, TLS over TCP):
// "t13d1516h2_8daaf6152771_d8a2da3f94cd" — the protocol, the highest
// version offered, SNI present ("d") or not ("i"), the counts of cipher
// suites and extensions, the first and last characters of the first ALPN
// value; then the truncated SHA-256 of the sorted cipher suites; then that
// of the sorted extensions (SNI and ALPN left out) and the signature
// algorithms in the client's order. GREASE values are ignored throughout.
func (h *Hello) JA4() string {
	var b strings.Builder
	b.Grow(36)
	b.WriteByte('t')
	b.WriteString(versionLabel(h.MaxVersion()))
	if h.ServerName != "" || slices.Contains(h.Extensions, extServerName) {
		b.WriteByte('d')
	} else {
		b.WriteByte('i')
	}
	suites := hexList(h.CipherSuites, nil)
	exts := hexList(h.Extensions, func(v uint16) bool { return v == extServerName || v == extALPN })
	writeCount(&b, len(suites))
	writeCount(&b, countNonGREASE(h.Extensions))
	b.WriteString(alpnLabel(h.ALPN))
	b.WriteByte('_')
	slices.Sort(suites)
	b.WriteString(truncatedHash(strings.Join(suites, ",")))
	b.WriteByte('_')
	slices.Sort(exts)
	c := strings.Join(exts, ",")
	if algs := hexList(h.SignatureAlgorithms, nil); len(algs) > 0 {
		c += "_" + strings.Join(algs, ",")
	}
	b.WriteString(truncatedHash(c))
	return b.String()
}

// versionLabel is JA4's two characters for a version.
func versionLabel(v uint16) string {
	switch v {
	case 0x0304:
		return "13"
	case 0x0303:
		return "12"
	case 0x0302:
		return "11"
	case 0x0301:
		return "10"
	case 0x0300:
		return "s3"
	case 0x0200:
		return "s2"
	case 0x0100:
		return "s1"
	}
	return "00"
}

// hexList writes vs as 4-digit lower-case hex, leaving out GREASE and
// what skip says.
func hexList(vs []uint16, skip func(uint16) bool) []string {
	out := make([]string, 0, len(vs))
	for _, v := range vs {
		if IsGREASE(v) || (skip != nil && skip(v)) {
			continue
		}
		var buf [2]byte
		buf[0], buf[1] = byte(v>>8), byte(v)
		out = append(out, hex.EncodeToString(buf[:]))
	}
	return out
}

func countNonGREASE(vs []uint16) int {
	n := 0
	for _, v := range vs {
		if !IsGREASE(v) {
			n++
		}
	}
	return n
}

// writeCount writes n as two digits, 99 at most.
func writeCount(b *strings.Builder, n int) {
	n = min(n, 99)
	if n < 10 {
		b.WriteByte('0')
	}
	b.WriteString(strconv.Itoa(n))
}

// alpnLabel is the first and last characters of the first ALPN value
// ("00" without one); a character that is not ASCII alphanumeric is given
// as the first (for the first) or last (for the last) hex digit of its
// byte.
func alpnLabel(alpn []string) string {
	if len(alpn) == 0 || alpn[0] == "" {
		return "00"
	}
	first, last := alpn[0][0], alpn[0][len(alpn[0])-1]
	if alnum(first) && alnum(last) {
		return string([]byte{first, last})
	}
	hf, hl := hex.EncodeToString([]byte{first}), hex.EncodeToString([]byte{last})
	out := []byte{first, last}
	if !alnum(first) {
		out[0] = hf[0]
	}
	if !alnum(last) {
		out[1] = hl[1]
	}
	return string(out)
}

func alnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

// truncatedHash is the first 12 hex digits of SHA-256(s), or twelve zeros
// for an empty s.
func truncatedHash(s string) string {
	if s == "" {
		return "000000000000"
	}
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:6])
}
