package http1

import (
	"bytes"
	"fmt"
	"io"
)

// section describes the limits of a field section: a head or a trailer
// section.
type section struct {
	what      string // for errors: "request head", "response head", "trailer section"
	maxBytes  int    // the whole section, counted from the offset 0 lineEnd works from
	errBytes  error  // when maxBytes is exceeded
	errCount  error  // when more than Limits.MaxHeaders fields come
	errLine   error  // when a field line exceeds Limits.MaxLineBytes
	maxFields int
}

// fieldInfo gathers, while fields are read, what the framing and connection
// rules need, so the fields are walked once.
type fieldInfo struct {
	hosts     int
	host      []byte
	cls       int
	cl        []byte
	tes       int
	teErr     error // the first fault in the Transfer-Encoding lists
	teChunked bool  // chunked seen
	teFinal   bool  // the last coding so far is chunked
	teOther   bool  // a coding other than chunked seen
	connClose bool
	connKeep  bool
	connUpg   bool
	upgrade   bool
	expect100 bool
}

// note records what field name: value means for framing and connection
// handling.
func (fi *fieldInfo) note(name, value []byte) {
	switch len(name) {
	case 4:
		if equalFold(name, "host") {
			fi.hosts++
			fi.host = value
		}
	case 6:
		if equalFold(name, "expect") && equalFold(value, "100-continue") {
			fi.expect100 = true
		}
	case 7:
		if equalFold(name, "upgrade") {
			fi.upgrade = true
		}
	case 10:
		if equalFold(name, "connection") {
			for e, rest, ok := nextListElem(value); ok; e, rest, ok = nextListElem(rest) {
				switch {
				case equalFold(e, "close"):
					fi.connClose = true
				case equalFold(e, "keep-alive"):
					fi.connKeep = true
				case equalFold(e, "upgrade"):
					fi.connUpg = true
				}
			}
		}
	case 14:
		if equalFold(name, "content-length") {
			fi.cls++
			fi.cl = value
		}
	case 17:
		if equalFold(name, "transfer-encoding") {
			fi.tes++
			fi.noteTE(value)
		}
	}
}

// noteTE walks one Transfer-Encoding list (RFC 9112 6.1).
func (fi *fieldInfo) noteTE(value []byte) {
	if fi.teErr != nil {
		return
	}
	if len(trimOWS(value)) == 0 {
		fi.teErr = fmt.Errorf("%w: empty", ErrBadTransferEncoding)
		return
	}
	for e, rest, ok := nextListElem(value); ok; e, rest, ok = nextListElem(rest) {
		coding, params := e, []byte(nil)
		if i := bytes.IndexByte(e, ';'); i >= 0 {
			coding, params = trimOWS(e[:i]), e[i:]
		}
		switch {
		case !isToken(coding):
			fi.teErr = fmt.Errorf("%w: bad coding %q", ErrBadTransferEncoding, e)
			return
		case equalFold(coding, "chunked"):
			if params != nil {
				fi.teErr = fmt.Errorf("%w: chunked with parameters", ErrBadTransferEncoding)
				return
			}
			if fi.teChunked {
				fi.teErr = fmt.Errorf("%w: chunked applied more than once", ErrBadTransferEncoding)
				return
			}
			fi.teChunked, fi.teFinal = true, true
		default:
			fi.teOther, fi.teFinal = true, false
		}
	}
}

// framing checks Content-Length and Transfer-Encoding (RFC 9112 6) and
// returns whether the message is chunked and its content length (-1 when
// absent).
func (fi *fieldInfo) framing(version int) (chunked bool, cl int64, err error) {
	if fi.tes > 0 {
		switch {
		case version == 10:
			return false, -1, ErrTEOnHTTP10
		case fi.cls > 0:
			return false, -1, ErrTEWithContentLength
		case fi.teErr != nil:
			return false, -1, fi.teErr
		case !fi.teFinal:
			return false, -1, fmt.Errorf("%w: chunked is not the final coding", ErrBadTransferEncoding)
		case fi.teOther:
			return false, -1, ErrUnsupportedTransferCoding
		}
		return true, -1, nil
	}
	if fi.cls == 0 {
		return false, -1, nil
	}
	if fi.cls > 1 {
		return false, -1, fmt.Errorf("%w: %d Content-Length fields", ErrBadContentLength, fi.cls)
	}
	cl, ok := parseContentLength(fi.cl)
	if !ok {
		return false, -1, fmt.Errorf("%w: %q", ErrBadContentLength, fi.cl)
	}
	return false, cl, nil
}

// parseContentLength parses 1*DIGIT into a non-negative int64.
func parseContentLength(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 19 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
		if n < 0 {
			return 0, false
		}
	}
	return n, true
}

// keepAlive applies RFC 9112 9.3.
func (fi *fieldInfo) keepAlive(version int) bool {
	if fi.connClose {
		return false
	}
	return version == 11 || fi.connKeep
}

// readFields reads field lines into h from offset from (relative to r.r)
// until the empty line, checking each against the field rules, and returns
// the offset just past the empty line. Nothing is consumed.
func (r *Reader) readFields(h *Header, from int, sec *section, fi *fieldInfo) (int, error) {
	maxLine := r.lim.MaxLineBytes + 2
	for {
		room := sec.maxBytes - from
		end, err := r.lineEnd(from, min(maxLine, room))
		if err != nil {
			if err == errLineLimit {
				if maxLine <= room {
					return 0, fmt.Errorf("%w: a field line in the %s exceeds %d bytes", sec.errLine, sec.what, r.lim.MaxLineBytes)
				}
				return 0, fmt.Errorf("%w: %s exceeds %d bytes", sec.errBytes, sec.what, sec.maxBytes)
			}
			return 0, readErr(sec.what, err)
		}
		line, ok := r.line(from, end)
		if !ok {
			return 0, fmt.Errorf("%w: field line in the %s ends in a bare LF", ErrBadField, sec.what)
		}
		from = end + 1
		if len(line) == 0 {
			return from, nil
		}
		if h.Len() >= sec.maxFields {
			return 0, fmt.Errorf("%w: more than %d fields in the %s", sec.errCount, sec.maxFields, sec.what)
		}
		nameEnd, vStart, vEnd, err := parseField(line)
		if err != nil {
			return 0, err
		}
		h.addLine(line, nameEnd, vStart, vEnd)
		if fi != nil {
			f := &h.fields[len(h.fields)-1]
			fi.note(f.Name, f.Value)
		}
	}
}

// readErr wraps a source error met in the middle of something; io.EOF
// becomes io.ErrUnexpectedEOF.
func readErr(what string, err error) error {
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("http1: reading %s: %w", what, err)
}

// parseField checks a field line (RFC 9112 5) and returns where its name
// ends and where its value, trimmed of OWS, starts and ends.
func parseField(line []byte) (nameEnd, vStart, vEnd int, err error) {
	if isOWS(line[0]) {
		return 0, 0, 0, ErrObsFold
	}
	i := 0
	for i < len(line) && isTchar(line[i]) {
		i++
	}
	switch {
	case i == len(line):
		return 0, 0, 0, fmt.Errorf("%w: no colon in %q", ErrBadField, clip(line))
	case line[i] != ':':
		j := i
		for j < len(line) && isOWS(line[j]) {
			j++
		}
		if j > i && j < len(line) && line[j] == ':' {
			return 0, 0, 0, fmt.Errorf("%w: %q", ErrSpaceBeforeColon, clip(line[:i]))
		}
		return 0, 0, 0, fmt.Errorf("%w: byte %#02x in field name", ErrBadField, line[i])
	case i == 0:
		return 0, 0, 0, fmt.Errorf("%w: empty field name", ErrBadField)
	}
	for _, c := range line[i+1:] {
		if !isValue(c) {
			return 0, 0, 0, fmt.Errorf("%w: byte %#02x in the value of %q", ErrBadField, c, clip(line[:i]))
		}
	}
	vStart, vEnd = i+1, len(line)
	for vStart < vEnd && isOWS(line[vStart]) {
		vStart++
	}
	for vEnd > vStart && isOWS(line[vEnd-1]) {
		vEnd--
	}
	return i, vStart, vEnd, nil
}

// clip shortens b for an error message.
func clip(b []byte) []byte {
	if len(b) > 64 {
		return b[:64]
	}
	return b
}

// parseVersion parses HTTP-version (RFC 9112 2.3): 10 for HTTP/1.0, 11 for
// HTTP/1.1 and higher 1.x minors (RFC 9110 6.2: treated as the highest minor
// we support), ErrBadVersion for other majors, ErrBadStartLine when not well
// formed.
func parseVersion(v []byte) (int, error) {
	if len(v) != 8 || string(v[:5]) != "HTTP/" || v[6] != '.' ||
		v[5] < '0' || v[5] > '9' || v[7] < '0' || v[7] > '9' {
		return 0, fmt.Errorf("%w: bad HTTP-version %q", ErrBadStartLine, clip(v))
	}
	if v[5] != '1' {
		return 0, fmt.Errorf("%w: %s", ErrBadVersion, v)
	}
	if v[7] == '0' {
		return 10, nil
	}
	return 11, nil
}

// ReadRequest reads the next request head into req (reset first) and checks
// it against RFC 9112: request line, field syntax, Host, and the framing
// fields; see the package documentation for the rules. Pipelined requests
// work since bytes past the head stay buffered. The previous message's body,
// if it had one, must have been read to io.EOF through Body, or
// ReadRequest fails with ErrBodyNotRead rather than read body bytes as a
// head. It returns io.EOF, unwrapped,
// when the connection closed cleanly before any byte of a new request, and
// wraps io.ErrUnexpectedEOF when it closed in the middle of a head. Faults
// wrap the package's sentinel errors; StatusOf maps them to a status.
func (r *Reader) ReadRequest(req *Request) error {
	req.Reset()
	if err := r.bodyRead(); err != nil {
		return err
	}
	// RFC 9112 2.2: a server SHOULD ignore empty lines before the request line.
	for skipped := 0; ; skipped++ {
		for r.w-r.r < 2 {
			if err := r.fill(2); err != nil {
				if err == io.EOF && r.w == r.r {
					return io.EOF
				}
				return readErr("request head", err)
			}
		}
		if r.buf[r.r] != '\r' || r.buf[r.r+1] != '\n' {
			break
		}
		if skipped == maxEmptyLines {
			return fmt.Errorf("%w: more than %d empty lines before the request line", ErrBadStartLine, maxEmptyLines)
		}
		r.r += 2
	}
	maxHead, maxLine := r.lim.MaxHeadBytes, r.lim.MaxLineBytes+2
	end, err := r.lineEnd(0, min(maxLine, maxHead))
	if err != nil {
		if err == errLineLimit {
			if maxLine <= maxHead {
				return fmt.Errorf("%w: request line exceeds %d bytes", ErrURITooLong, r.lim.MaxLineBytes)
			}
			return fmt.Errorf("%w: request head exceeds %d bytes", ErrHeadTooLarge, maxHead)
		}
		return readErr("request head", err)
	}
	line, ok := r.line(0, end)
	if !ok {
		return fmt.Errorf("%w: request line ends in a bare LF", ErrBadStartLine)
	}
	if err := parseRequestLine(req, line); err != nil {
		return err
	}
	sec := section{what: "request head", maxBytes: maxHead, maxFields: r.lim.MaxHeaders,
		errBytes: ErrHeadTooLarge, errCount: ErrTooManyHeaders, errLine: ErrLineTooLong}
	var fi fieldInfo
	n, err := r.readFields(&req.Header, end+1, &sec, &fi)
	if err != nil {
		return err
	}
	if err := req.finish(&fi); err != nil {
		return err
	}
	r.r += n
	r.owed = req.Framing != NoBody && req.ContentLength != 0
	return nil
}

// parseRequestLine parses `method SP request-target SP HTTP-version` (RFC
// 9112 3) into req.
func parseRequestLine(req *Request, line []byte) error {
	sp := bytes.IndexByte(line, ' ')
	if sp < 0 {
		return fmt.Errorf("%w: %q", ErrBadStartLine, clip(line))
	}
	method, rest := line[:sp], line[sp+1:]
	if !isToken(method) {
		return fmt.Errorf("%w: bad method %q", ErrBadStartLine, clip(method))
	}
	target, version := rest, []byte(nil)
	if sp = bytes.IndexByte(rest, ' '); sp >= 0 {
		target, version = rest[:sp], rest[sp+1:]
	}
	if len(target) == 0 {
		return fmt.Errorf("%w: empty request-target", ErrBadStartLine)
	}
	for i, c := range target {
		if !isTarget(c) {
			return fmt.Errorf("%w: byte %#02x in request-target", ErrBadStartLine, c)
		}
		if c == '%' && (i+2 >= len(target) || hexVal(target[i+1]) < 0 || hexVal(target[i+2]) < 0) {
			return fmt.Errorf("%w: bad percent-encoding in request-target", ErrBadStartLine)
		}
	}
	if sp < 0 {
		return fmt.Errorf("%w: no HTTP-version (HTTP/0.9 request)", ErrBadVersion)
	}
	v, err := parseVersion(version)
	if err != nil {
		return err
	}
	if err := checkTargetForm(method, target); err != nil {
		return err
	}
	req.line = append(req.line[:0], method...)
	req.line = append(req.line, target...)
	req.Method = req.line[:len(method):len(method)]
	req.Target = req.line[len(method):len(req.line):len(req.line)]
	req.Version = v
	return nil
}

// checkTargetForm checks the request-target has the form its method allows
// (RFC 9112 3.2): authority-form for CONNECT only, asterisk-form for OPTIONS
// only, otherwise origin-form or absolute-form. An authority must be a valid
// uri-host and port, without userinfo (RFC 9110 4.2.4); an http or https
// absolute-form target must have one.
func checkTargetForm(method, target []byte) error {
	if string(method) == "CONNECT" {
		if !validAuthority(target, true) {
			return fmt.Errorf("%w: CONNECT target %q is not host:port", ErrBadStartLine, clip(target))
		}
		return nil
	}
	switch {
	case target[0] == '/':
		return nil
	case len(target) == 1 && target[0] == '*':
		if string(method) != "OPTIONS" {
			return fmt.Errorf("%w: asterisk-form target for %s", ErrBadStartLine, clip(method))
		}
		return nil
	}
	n := schemeLen(target)
	if n == 0 {
		return fmt.Errorf("%w: request-target %q is neither origin-form nor absolute-form", ErrBadStartLine, clip(target))
	}
	rest := target[n+1:]
	if !bytes.HasPrefix(rest, []byte("//")) {
		if equalFold(target[:n], "http") || equalFold(target[:n], "https") {
			return fmt.Errorf("%w: %s target without authority", ErrBadStartLine, target[:n])
		}
		return nil
	}
	rest = rest[2:]
	if i := bytes.IndexAny(rest, "/?#"); i >= 0 {
		rest = rest[:i]
	}
	if !validAuthority(rest, false) {
		return fmt.Errorf("%w: bad authority %q in request-target", ErrBadStartLine, clip(rest))
	}
	return nil
}

// validAuthority reports whether b is uri-host [ ":" port ] (RFC 3986 3.2.2,
// 3.2.3) with a non-empty host: an IP literal in brackets or a reg-name of
// unreserved and sub-delims characters (no percent-encoding, no userinfo).
// needPort requires a non-empty port.
func validAuthority(b []byte, needPort bool) bool {
	var port []byte
	hasPort := false
	if len(b) > 0 && b[0] == '[' {
		end := bytes.IndexByte(b, ']')
		if end < 2 {
			return false
		}
		for _, c := range b[1:end] {
			if hexVal(c) < 0 && c != ':' && c != '.' {
				return false
			}
		}
		if rest := b[end+1:]; len(rest) > 0 {
			if rest[0] != ':' {
				return false
			}
			port, hasPort = rest[1:], true
		}
	} else {
		host := b
		if i := bytes.IndexByte(b, ':'); i >= 0 {
			host, port, hasPort = b[:i], b[i+1:], true
		}
		if len(host) == 0 {
			return false
		}
		for _, c := range host {
			if !isRegName(c) {
				return false
			}
		}
	}
	if needPort && len(port) == 0 || hasPort && len(port) > 5 {
		return false
	}
	for _, c := range port {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// isRegName reports whether c may appear in a reg-name (unreserved or
// sub-delims; percent-encoding is not accepted).
func isRegName(c byte) bool {
	return isHost(c) && c != ':' && c != '[' && c != ']' && c != '%'
}

// schemeLen returns the length of the scheme b starts with, followed by
// ":" (RFC 3986 3.1), or 0.
func schemeLen(b []byte) int {
	for i, c := range b {
		switch {
		case c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
		case i > 0 && (c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.'):
		case i > 0 && c == ':':
			return i
		default:
			return 0
		}
	}
	return 0
}

// finish applies the request rules that need the whole head.
func (req *Request) finish(fi *fieldInfo) error {
	switch {
	case fi.hosts > 1:
		return fmt.Errorf("%w: %d Host fields", ErrRepeatedHost, fi.hosts)
	case fi.hosts == 0 && req.Version == 11:
		return ErrMissingHost
	}
	if len(fi.host) > 0 && !validAuthority(fi.host, false) {
		return fmt.Errorf("%w: Host %q is not uri-host [:port]", ErrBadField, clip(fi.host))
	}
	chunked, cl, err := fi.framing(req.Version)
	if err != nil {
		return err
	}
	switch {
	case chunked:
		req.Framing = Chunked
	case cl >= 0:
		req.Framing = Length
	}
	req.ContentLength = cl
	req.KeepAlive = fi.keepAlive(req.Version)
	req.Upgrade = req.Version == 11 && fi.upgrade && fi.connUpg
	req.ExpectContinue = req.Version == 11 && fi.expect100
	if fi.hosts == 1 {
		m, t := len(req.Method), len(req.Target)
		req.line = append(req.line, fi.host...)
		req.Method = req.line[:m:m]
		req.Target = req.line[m : m+t : m+t]
		req.Host = req.line[m+t : len(req.line) : len(req.line)]
	}
	return nil
}

// ReadResponse reads the next response head into resp (reset first); method
// is the request's, so a response to HEAD, and a 2xx to CONNECT, gets
// NoBody. The previous body must have been read as for ReadRequest. 1xx responses are
// returned too: the caller loops until a final one. It returns io.EOF,
// unwrapped, when the connection closed cleanly before any byte.
func (r *Reader) ReadResponse(resp *Response, method []byte) error {
	resp.Reset()
	if err := r.bodyRead(); err != nil {
		return err
	}
	if r.w == r.r {
		if err := r.fill(1); err != nil {
			if err == io.EOF && r.w == r.r {
				return io.EOF
			}
			return readErr("response head", err)
		}
	}
	maxHead, maxLine := r.lim.MaxHeadBytes, r.lim.MaxLineBytes+2
	end, err := r.lineEnd(0, min(maxLine, maxHead))
	if err != nil {
		if err == errLineLimit {
			if maxLine <= maxHead {
				return fmt.Errorf("%w: status line exceeds %d bytes", ErrLineTooLong, r.lim.MaxLineBytes)
			}
			return fmt.Errorf("%w: response head exceeds %d bytes", ErrHeadTooLarge, maxHead)
		}
		return readErr("response head", err)
	}
	line, ok := r.line(0, end)
	if !ok {
		return fmt.Errorf("%w: status line ends in a bare LF", ErrBadStartLine)
	}
	if err := parseStatusLine(resp, line); err != nil {
		return err
	}
	sec := section{what: "response head", maxBytes: maxHead, maxFields: r.lim.MaxHeaders,
		errBytes: ErrHeadTooLarge, errCount: ErrTooManyHeaders, errLine: ErrLineTooLong}
	var fi fieldInfo
	n, err := r.readFields(&resp.Header, end+1, &sec, &fi)
	if err != nil {
		return err
	}
	chunked, cl, err := fi.framing(resp.Version)
	if err != nil {
		return err
	}
	resp.ContentLength = cl
	resp.KeepAlive = fi.keepAlive(resp.Version)
	switch s := resp.Status; {
	case string(method) == "HEAD" || s < 200 || s == 204 || s == 304:
		resp.Framing = NoBody
	case string(method) == "CONNECT" && s < 300:
		resp.Framing = NoBody // a tunnel from the empty line on (RFC 9112 6.3)
	case chunked:
		resp.Framing = Chunked
	case cl >= 0:
		resp.Framing = Length
	default:
		resp.Framing = UntilClose
		resp.KeepAlive = false
	}
	r.r += n
	r.owed = resp.Framing != NoBody && resp.ContentLength != 0
	return nil
}

// parseStatusLine parses `HTTP-version SP status-code SP [reason-phrase]`
// (RFC 9112 4), also accepting no space after the status code.
func parseStatusLine(resp *Response, line []byte) error {
	if len(line) < 9 || line[8] != ' ' {
		return fmt.Errorf("%w: %q", ErrBadStartLine, clip(line))
	}
	v, err := parseVersion(line[:8])
	if err != nil {
		return err
	}
	rest := line[9:]
	if len(rest) < 3 || len(rest) > 3 && rest[3] != ' ' {
		return fmt.Errorf("%w: %q", ErrBadStatus, clip(rest))
	}
	status := 0
	for _, c := range rest[:3] {
		if c < '0' || c > '9' {
			return fmt.Errorf("%w: %q", ErrBadStatus, rest[:3])
		}
		status = status*10 + int(c-'0')
	}
	if status < 100 || status > 599 {
		return fmt.Errorf("%w: %d", ErrBadStatus, status)
	}
	var reason []byte
	if len(rest) > 3 {
		reason = rest[4:]
	}
	for _, c := range reason {
		if !isValue(c) {
			return fmt.Errorf("%w: byte %#02x in reason phrase", ErrBadStartLine, c)
		}
	}
	resp.Version, resp.Status = v, status
	resp.line = append(resp.line[:0], reason...)
	resp.Reason = resp.line[:len(resp.line):len(resp.line)]
	return nil
}
