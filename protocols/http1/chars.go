package http1

// Byte classes, one bit each in byteClass.
const (
	classTchar  = 1 << iota // tchar (RFC 9110 5.6.2): method, field name, coding
	classValue              // field-vchar, SP or HTAB: field value, reason phrase
	classTarget             // VCHAR or obs-text: request-target
	classHex                // HEXDIG: chunk size
	classHost               // uri-host and port characters: Host value
	classQdtext             // qdtext (RFC 9110 5.6.4)
)

// byteClass holds the classes of each byte value. It is a constant, so no
// package state can change it.
const byteClass = "" +
	"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x22\x00\x00\x00\x00\x00\x00" +
	"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00" +
	"\x22\x37\x06\x27\x37\x37\x37\x37\x36\x36\x37\x37\x36\x37\x37\x26" +
	"\x3f\x3f\x3f\x3f\x3f\x3f\x3f\x3f\x3f\x3f\x36\x36\x26\x36\x26\x26" +
	"\x26\x3f\x3f\x3f\x3f\x3f\x3f\x37\x37\x37\x37\x37\x37\x37\x37\x37" +
	"\x37\x37\x37\x37\x37\x37\x37\x37\x37\x37\x37\x36\x06\x36\x27\x37" +
	"\x27\x3f\x3f\x3f\x3f\x3f\x3f\x37\x37\x37\x37\x37\x37\x37\x37\x37" +
	"\x37\x37\x37\x37\x37\x37\x37\x37\x37\x37\x37\x26\x27\x26\x37\x00" +
	"\x26\x26\x26\x26\x26\x26\x26\x26\x26\x26\x26\x26\x26\x26\x26\x26" +
	"\x26\x26\x26\x26\x26\x26\x26\x26\x26\x26\x26\x26\x26\x26\x26\x26" +
	"\x26\x26\x26\x26\x26\x26\x26\x26\x26\x26\x26\x26\x26\x26\x26\x26" +
	"\x26\x26\x26\x26\x26\x26\x26\x26\x26\x26\x26\x26\x26\x26\x26\x26" +
	"\x26\x26\x26\x26\x26\x26\x26\x26\x26\x26\x26\x26\x26\x26\x26\x26" +
	"\x26\x26\x26\x26\x26\x26\x26\x26\x26\x26\x26\x26\x26\x26\x26\x26" +
	"\x26\x26\x26\x26\x26\x26\x26\x26\x26\x26\x26\x26\x26\x26\x26\x26" +
	"\x26\x26\x26\x26\x26\x26\x26\x26\x26\x26\x26\x26\x26\x26\x26\x26"

func isTchar(c byte) bool  { return byteClass[c]&classTchar != 0 }
func isValue(c byte) bool  { return byteClass[c]&classValue != 0 }
func isTarget(c byte) bool { return byteClass[c]&classTarget != 0 }
func isHost(c byte) bool   { return byteClass[c]&classHost != 0 }
func isQdtext(c byte) bool { return byteClass[c]&classQdtext != 0 }
func isOWS(c byte) bool    { return c == ' ' || c == '\t' }

// hexVal returns the value of hex digit c, or -1.
func hexVal(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

// lower returns c lowercased if it is an ASCII capital.
func lower(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// equalFold reports whether b and s are equal under ASCII case folding.
func equalFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if lower(b[i]) != lower(s[i]) {
			return false
		}
	}
	return true
}

// trimOWS removes leading and trailing SP and HTAB.
func trimOWS(b []byte) []byte {
	for len(b) > 0 && isOWS(b[0]) {
		b = b[1:]
	}
	for len(b) > 0 && isOWS(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	return b
}

// isToken reports whether b is a non-empty token.
func isToken(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if !isTchar(c) {
			return false
		}
	}
	return true
}

// nextListElem splits the first element off a comma-separated list (RFC 9110
// 5.6.1), trimmed of OWS, and returns it and the rest. ok is false when the
// list is exhausted.
func nextListElem(list []byte) (elem, rest []byte, ok bool) {
	if len(list) == 0 {
		return nil, nil, false
	}
	for i, c := range list {
		if c == ',' {
			return trimOWS(list[:i]), list[i+1:], true
		}
	}
	return trimOWS(list), nil, true
}
