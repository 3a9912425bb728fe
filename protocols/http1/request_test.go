package http1

import (
	"errors"
	"io"
	"strings"
	"testing"
)

// readOneRequest reads one request head from in with lim.
func readOneRequest(in string, lim Limits) (*Request, *Reader, error) {
	rd := NewReader(strings.NewReader(in), lim)
	req := new(Request)
	err := rd.ReadRequest(req)
	return req, rd, err
}

// TestRequestRejects checks every request rule rejects with its error and
// StatusOf maps that error to the right status.
func TestRequestRejects(t *testing.T) {
	for _, tt := range requestRejectCases() {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := readOneRequest(tt.in, rejectLimits)
			if !errors.Is(err, tt.want) {
				t.Fatalf("ReadRequest(%q) = %v, want %v", tt.in, err, tt.want)
			}
			if got := StatusOf(err); got != tt.status {
				t.Fatalf("StatusOf(%v) = %d, want %d", err, got, tt.status)
			}
		})
	}
}

// rejectLimits are the limits requestRejectCases are read with.
var rejectLimits = Limits{MaxLineBytes: 64, MaxHeadBytes: 200, MaxHeaders: 4}

// rejectCase is a malformed request and the error it must get.
type rejectCase struct {
	name   string
	in     string
	want   error
	status int
}

// requestRejectCases lists malformed requests, one or more per rule.
func requestRejectCases() []rejectCase {
	const h = "Host: example.com\r\n"
	long := strings.Repeat("a", 100)
	return []rejectCase{
		// Framing fields.
		{"te and cl", "POST / HTTP/1.1\r\n" + h + "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n", ErrTEWithContentLength, 400},
		{"cl and te", "POST / HTTP/1.1\r\n" + h + "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", ErrTEWithContentLength, 400},
		{"te not final", "POST / HTTP/1.1\r\n" + h + "Transfer-Encoding: chunked, gzip\r\n\r\n", ErrBadTransferEncoding, 400},
		{"te gzip only", "POST / HTTP/1.1\r\n" + h + "Transfer-Encoding: gzip\r\n\r\n", ErrBadTransferEncoding, 400},
		{"te unknown coding", "POST / HTTP/1.1\r\n" + h + "Transfer-Encoding: gzip, chunked\r\n\r\n", ErrUnsupportedTransferCoding, 501},
		{"te unknown coding in two fields", "POST / HTTP/1.1\r\n" + h + "Transfer-Encoding: foo\r\nTransfer-Encoding: chunked\r\n\r\n", ErrUnsupportedTransferCoding, 501},
		{"te chunked twice", "POST / HTTP/1.1\r\n" + h + "Transfer-Encoding: chunked, chunked\r\n\r\n", ErrBadTransferEncoding, 400},
		{"te chunked twice in two fields", "POST / HTTP/1.1\r\n" + h + "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", ErrBadTransferEncoding, 400},
		{"te chunked with parameter", "POST / HTTP/1.1\r\n" + h + "Transfer-Encoding: chunked;q=1\r\n\r\n", ErrBadTransferEncoding, 400},
		{"te empty", "POST / HTTP/1.1\r\n" + h + "Transfer-Encoding: \r\n\r\n", ErrBadTransferEncoding, 400},
		{"te empty element", "POST / HTTP/1.1\r\n" + h + "Transfer-Encoding: ,chunked\r\n\r\n", ErrBadTransferEncoding, 400},
		{"te bad token", "POST / HTTP/1.1\r\n" + h + "Transfer-Encoding: \"chunked\"\r\n\r\n", ErrBadTransferEncoding, 400},
		{"te chunked with junk", "POST / HTTP/1.1\r\n" + h + "Transfer-Encoding: chunked x\r\n\r\n", ErrBadTransferEncoding, 400},
		{"te on 1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", ErrTEOnHTTP10, 400},
		{"cl twice same value", "POST / HTTP/1.1\r\n" + h + "Content-Length: 5\r\nContent-Length: 5\r\n\r\n", ErrBadContentLength, 400},
		{"cl twice", "POST / HTTP/1.1\r\n" + h + "Content-Length: 5\r\nContent-Length: 6\r\n\r\n", ErrBadContentLength, 400},
		{"cl list", "POST / HTTP/1.1\r\n" + h + "Content-Length: 5, 5\r\n\r\n", ErrBadContentLength, 400},
		{"cl non-digit", "POST / HTTP/1.1\r\n" + h + "Content-Length: 5a\r\n\r\n", ErrBadContentLength, 400},
		{"cl hex", "POST / HTTP/1.1\r\n" + h + "Content-Length: 0x5\r\n\r\n", ErrBadContentLength, 400},
		{"cl plus", "POST / HTTP/1.1\r\n" + h + "Content-Length: +5\r\n\r\n", ErrBadContentLength, 400},
		{"cl minus", "POST / HTTP/1.1\r\n" + h + "Content-Length: -5\r\n\r\n", ErrBadContentLength, 400},
		{"cl empty", "POST / HTTP/1.1\r\n" + h + "Content-Length: \r\n\r\n", ErrBadContentLength, 400},
		{"cl inner space", "POST / HTTP/1.1\r\n" + h + "Content-Length: 1 2\r\n\r\n", ErrBadContentLength, 400},
		{"cl overflow", "POST / HTTP/1.1\r\n" + h + "Content-Length: 9223372036854775808\r\n\r\n", ErrBadContentLength, 400},
		{"cl too many digits", "POST / HTTP/1.1\r\n" + h + "Content-Length: 00000000000000000001\r\n\r\n", ErrBadContentLength, 400},
		// Field syntax.
		{"obs-fold", "GET / HTTP/1.1\r\n" + h + "X: a\r\n b\r\n\r\n", ErrObsFold, 400},
		{"obs-fold tab", "GET / HTTP/1.1\r\n" + h + "X: a\r\n\tb\r\n\r\n", ErrObsFold, 400},
		{"space before first field", "GET / HTTP/1.1\r\n " + h + "\r\n", ErrObsFold, 400},
		{"space before colon", "GET / HTTP/1.1\r\n" + h + "X : a\r\n\r\n", ErrSpaceBeforeColon, 400},
		{"tab before colon", "GET / HTTP/1.1\r\n" + h + "X\t: a\r\n\r\n", ErrSpaceBeforeColon, 400},
		{"space before colon on host", "GET / HTTP/1.1\r\nHost : a\r\n\r\n", ErrSpaceBeforeColon, 400},
		{"space in name", "GET / HTTP/1.1\r\n" + h + "X Y: a\r\n\r\n", ErrBadField, 400},
		{"no colon", "GET / HTTP/1.1\r\n" + h + "X\r\n\r\n", ErrBadField, 400},
		{"empty name", "GET / HTTP/1.1\r\n" + h + ": a\r\n\r\n", ErrBadField, 400},
		{"bad name char", "GET / HTTP/1.1\r\n" + h + "X(: a\r\n\r\n", ErrBadField, 400},
		{"non-ascii name", "GET / HTTP/1.1\r\n" + h + "X\xe9: a\r\n\r\n", ErrBadField, 400},
		{"bare cr in value", "GET / HTTP/1.1\r\n" + h + "X: a\rb\r\n\r\n", ErrBadField, 400},
		{"bare cr in name", "GET / HTTP/1.1\r\n" + h + "X\r: a\r\n\r\n", ErrBadField, 400},
		{"nul in value", "GET / HTTP/1.1\r\n" + h + "X: a\x00b\r\n\r\n", ErrBadField, 400},
		{"ctl in value", "GET / HTTP/1.1\r\n" + h + "X: a\x01b\r\n\r\n", ErrBadField, 400},
		{"del in value", "GET / HTTP/1.1\r\n" + h + "X: a\x7fb\r\n\r\n", ErrBadField, 400},
		{"esc in value", "GET / HTTP/1.1\r\n" + h + "X: \x1b[31m\r\n\r\n", ErrBadField, 400},
		{"bare lf field", "GET / HTTP/1.1\r\n" + h + "X: a\n\r\n", ErrBadField, 400},
		{"bare lf end of head", "GET / HTTP/1.1\r\n" + h + "\n", ErrBadField, 400},
		// Host.
		{"missing host", "GET / HTTP/1.1\r\nX: a\r\n\r\n", ErrMissingHost, 400},
		{"two hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", ErrRepeatedHost, 400},
		{"two hosts on 1.0", "GET / HTTP/1.0\r\nHost: a\r\nhost: b\r\n\r\n", ErrRepeatedHost, 400},
		{"bad host", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", ErrBadField, 400},
		{"bad host slash", "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", ErrBadField, 400},
		{"bad host two colons", "GET / HTTP/1.1\r\nHost: a:b:c\r\n\r\n", ErrBadField, 400},
		{"bad host port", "GET / HTTP/1.1\r\nHost: a:8o\r\n\r\n", ErrBadField, 400},
		{"bad host bracket", "GET / HTTP/1.1\r\nHost: [::1\r\n\r\n", ErrBadField, 400},
		{"bad host userinfo", "GET / HTTP/1.1\r\nHost: u@a\r\n\r\n", ErrBadField, 400},
		{"bad host non-ascii", "GET / HTTP/1.1\r\nHost: \xff\r\n\r\n", ErrBadField, 400},
		{"bad host port only", "GET / HTTP/1.1\r\nHost: :80\r\n\r\n", ErrBadField, 400},
		// Request line.
		{"double space", "GET  / HTTP/1.1\r\n" + h + "\r\n", ErrBadStartLine, 400},
		{"double space before version", "GET /  HTTP/1.1\r\n" + h + "\r\n", ErrBadStartLine, 400},
		{"trailing space", "GET / HTTP/1.1 \r\n" + h + "\r\n", ErrBadStartLine, 400},
		{"tab separator", "GET\t/ HTTP/1.1\r\n" + h + "\r\n", ErrBadStartLine, 400},
		{"leading space", " GET / HTTP/1.1\r\n" + h + "\r\n", ErrBadStartLine, 400},
		{"space in target", "GET /a b HTTP/1.1\r\n" + h + "\r\n", ErrBadStartLine, 400},
		{"ctl in target", "GET /a\x01 HTTP/1.1\r\n" + h + "\r\n", ErrBadStartLine, 400},
		{"del in target", "GET /a\x7f HTTP/1.1\r\n" + h + "\r\n", ErrBadStartLine, 400},
		{"tab in target", "GET /a\tb HTTP/1.1\r\n" + h + "\r\n", ErrBadStartLine, 400},
		{"bare cr in request line", "GET /\r HTTP/1.1\r\n" + h + "\r\n", ErrBadStartLine, 400},
		{"bare lf request line", "GET / HTTP/1.1\n" + h + "\r\n", ErrBadStartLine, 400},
		{"bad method", "G@T / HTTP/1.1\r\n" + h + "\r\n", ErrBadStartLine, 400},
		{"bad percent-encoding", "GET /%zz HTTP/1.1\r\n" + h + "\r\n", ErrBadStartLine, 400},
		{"short percent-encoding", "GET /a%2 HTTP/1.1\r\n" + h + "\r\n", ErrBadStartLine, 400},
		{"empty method", " / HTTP/1.1\r\n" + h + "\r\n", ErrBadStartLine, 400},
		{"lowercase version", "GET / http/1.1\r\n" + h + "\r\n", ErrBadStartLine, 400},
		{"version two digits", "GET / HTTP/1.10\r\n" + h + "\r\n", ErrBadStartLine, 400},
		{"version no minor", "GET / HTTP/1\r\n" + h + "\r\n", ErrBadStartLine, 400},
		{"garbage", "hello\r\n\r\n", ErrBadStartLine, 400},
		{"relative target", "GET example.com HTTP/1.1\r\n" + h + "\r\n", ErrBadStartLine, 400},
		{"asterisk on get", "GET * HTTP/1.1\r\n" + h + "\r\n", ErrBadStartLine, 400},
		{"connect origin-form", "CONNECT /x HTTP/1.1\r\n" + h + "\r\n", ErrBadStartLine, 400},
		{"connect no port", "CONNECT example.com HTTP/1.1\r\n" + h + "\r\n", ErrBadStartLine, 400},
		{"connect empty port", "CONNECT example.com: HTTP/1.1\r\n" + h + "\r\n", ErrBadStartLine, 400},
		{"connect two colons", "CONNECT a:b:1 HTTP/1.1\r\n" + h + "\r\n", ErrBadStartLine, 400},
		{"connect percent", "CONNECT %41:1 HTTP/1.1\r\n" + h + "\r\n", ErrBadStartLine, 400},
		{"absolute bad ipv6", "GET http://[::1/ HTTP/1.1\r\n" + h + "\r\n", ErrBadStartLine, 400},
		{"absolute userinfo", "GET http://u:p@a/ HTTP/1.1\r\n" + h + "\r\n", ErrBadStartLine, 400},
		{"absolute empty host", "GET http:///x HTTP/1.1\r\n" + h + "\r\n", ErrBadStartLine, 400},
		{"absolute http without authority", "GET http:x HTTP/1.1\r\n" + h + "\r\n", ErrBadStartLine, 400},
		{"too many empty lines", strings.Repeat("\r\n", maxEmptyLines+1) + "GET / HTTP/1.1\r\n" + h + "\r\n", ErrBadStartLine, 400},
		{"http/0.9", "GET /\r\n\r\n", ErrBadVersion, 505},
		{"http/2.0", "GET / HTTP/2.0\r\n" + h + "\r\n", ErrBadVersion, 505},
		{"http/0.9 version", "GET / HTTP/0.9\r\n" + h + "\r\n", ErrBadVersion, 505},
		{"h2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", ErrBadVersion, 505},
		// Limits (set below to 64-byte lines, 200-byte heads, 4 fields).
		{"request line too long", "GET /" + long + " HTTP/1.1\r\n" + h + "\r\n", ErrURITooLong, 414},
		{"field line too long", "GET / HTTP/1.1\r\n" + h + "X: " + long + "\r\n\r\n", ErrLineTooLong, 431},
		{"too many fields", "GET / HTTP/1.1\r\n" + h + "A: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n", ErrTooManyHeaders, 431},
		{"head too large", "GET / HTTP/1.1\r\n" + h + strings.Repeat("X: "+long[:55]+"\r\n", 3) + "\r\n", ErrHeadTooLarge, 431},
		{"unterminated head too large", "GET / HTTP/1.1\r\n" + h + strings.Repeat("X: "+long[:55]+"\r\n", 2) + "Y: " + long[:50], ErrHeadTooLarge, 431},
	}
}

// TestRequestAccepts checks what ReadRequest reports for well-formed heads,
// odd-but-legal ones included.
func TestRequestAccepts(t *testing.T) {
	for _, tt := range requestAcceptCases() {
		t.Run(tt.name, func(t *testing.T) {
			req, rd, err := readOneRequest(tt.in, Limits{})
			if err != nil {
				t.Fatalf("ReadRequest(%q): %v", tt.in, err)
			}
			if string(req.Method) != tt.method || string(req.Target) != tt.target || req.Version != tt.version || string(req.Host) != tt.host {
				t.Errorf("got %q %q %d host %q, want %q %q %d host %q", req.Method, req.Target, req.Version, req.Host, tt.method, tt.target, tt.version, tt.host)
			}
			if req.Framing != tt.framing || req.ContentLength != tt.cl {
				t.Errorf("framing %v %d, want %v %d", req.Framing, req.ContentLength, tt.framing, tt.cl)
			}
			if req.KeepAlive != tt.keepAlive || req.Upgrade != tt.upgrade || req.ExpectContinue != tt.expect {
				t.Errorf("keep-alive %v upgrade %v expect %v, want %v %v %v", req.KeepAlive, req.Upgrade, req.ExpectContinue, tt.keepAlive, tt.upgrade, tt.expect)
			}
			if req.Header.Len() != tt.fields {
				t.Errorf("%d fields, want %d", req.Header.Len(), tt.fields)
			}
			if rd.Buffered() != 0 {
				t.Errorf("Buffered = %d after the only head", rd.Buffered())
			}
			want := io.EOF
			if tt.framing != NoBody && tt.cl != 0 {
				want = ErrBodyNotRead
			}
			if err := rd.ReadRequest(req); err != want {
				t.Errorf("second ReadRequest = %v, want %v", err, want)
			}
		})
	}
}

// acceptCase is a well-formed request and what ReadRequest must report.
type acceptCase struct {
	name      string
	in        string
	method    string
	target    string
	version   int
	host      string
	framing   Framing
	cl        int64
	keepAlive bool
	upgrade   bool
	expect    bool
	fields    int
}

// requestAcceptCases lists well-formed requests, odd-but-legal ones included.
func requestAcceptCases() []acceptCase {
	return []acceptCase{
		{"get", "GET /index.html?q=1 HTTP/1.1\r\nHost: example.com\r\n\r\n", "GET", "/index.html?q=1", 11, "example.com", NoBody, -1, true, false, false, 1},
		{"post cl", "POST /form HTTP/1.1\r\nHost: a:8080\r\nContent-Length: 13\r\n\r\n", "POST", "/form", 11, "a:8080", Length, 13, true, false, false, 2},
		{"cl zero", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n", "POST", "/", 11, "a", Length, 0, true, false, false, 2},
		{"cl leading zeros", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 007\r\n\r\n", "POST", "/", 11, "a", Length, 7, true, false, false, 2},
		{"cl max", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 9223372036854775807\r\n\r\n", "POST", "/", 11, "a", Length, 1<<63 - 1, true, false, false, 2},
		{"chunked", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", "POST", "/", 11, "a", Chunked, -1, true, false, false, 2},
		{"chunked mixed case", "POST / HTTP/1.1\r\nHost: a\r\ntransfer-encoding:  ChUnKeD \r\n\r\n", "POST", "/", 11, "a", Chunked, -1, true, false, false, 2},
		{"http/1.0", "GET / HTTP/1.0\r\n\r\n", "GET", "/", 10, "", NoBody, -1, false, false, false, 0},
		{"http/1.0 keep-alive", "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", "GET", "/", 10, "", NoBody, -1, true, false, false, 1},
		{"http/1.0 upgrade ignored", "GET / HTTP/1.0\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n", "GET", "/", 10, "", NoBody, -1, false, false, false, 2},
		{"http/1.2 as 1.1", "GET / HTTP/1.2\r\nHost: a\r\n\r\n", "GET", "/", 11, "a", NoBody, -1, true, false, false, 1},
		{"close", "GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, close\r\n\r\n", "GET", "/", 11, "a", NoBody, -1, false, false, false, 2},
		{"close second field", "GET / HTTP/1.1\r\nHost: a\r\nConnection: foo\r\nconnection: CLOSE\r\n\r\n", "GET", "/", 11, "a", NoBody, -1, false, false, false, 3},
		{"websocket", "GET /ws HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, Upgrade\r\nUpgrade: websocket\r\n\r\n", "GET", "/ws", 11, "a", NoBody, -1, true, true, false, 3},
		{"upgrade without connection", "GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\r\n", "GET", "/ws", 11, "a", NoBody, -1, true, false, false, 2},
		{"expect", "PUT /x HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\nContent-Length: 1\r\n\r\n", "PUT", "/x", 11, "a", Length, 1, true, false, true, 3},
		{"expect on 1.0 ignored", "PUT /x HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n", "PUT", "/x", 10, "", Length, 1, false, false, false, 2},
		{"leading empty lines", "\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", "GET", "/", 11, "a", NoBody, -1, true, false, false, 1},
		{"empty host", "GET / HTTP/1.1\r\nHost:\r\n\r\n", "GET", "/", 11, "", NoBody, -1, true, false, false, 1},
		{"ipv6 host", "GET / HTTP/1.1\r\nHost: [::1]:80\r\n\r\n", "GET", "/", 11, "[::1]:80", NoBody, -1, true, false, false, 1},
		{"absolute-form port query", "GET HTTPS://a.example:8443?y HTTP/1.1\r\nHost: a.example:8443\r\n\r\n", "GET", "HTTPS://a.example:8443?y", 11, "a.example:8443", NoBody, -1, true, false, false, 1},
		{"absolute-form ipv6", "GET http://[::1]:80/ HTTP/1.1\r\nHost: [::1]:80\r\n\r\n", "GET", "http://[::1]:80/", 11, "[::1]:80", NoBody, -1, true, false, false, 1},
		{"absolute-form other scheme", "GET urn:isbn:0451450523 HTTP/1.1\r\nHost: a\r\n\r\n", "GET", "urn:isbn:0451450523", 11, "a", NoBody, -1, true, false, false, 1},
		{"host empty port", "GET / HTTP/1.1\r\nHost: a:\r\n\r\n", "GET", "/", 11, "a:", NoBody, -1, true, false, false, 1},
		{"host sub-delims", "GET / HTTP/1.1\r\nHost: a-b_c~d!$&'()*+,;=.example\r\n\r\n", "GET", "/", 11, "a-b_c~d!$&'()*+,;=.example", NoBody, -1, true, false, false, 1},
		{"absolute-form", "GET http://a.example/x?y HTTP/1.1\r\nHost: a.example\r\n\r\n", "GET", "http://a.example/x?y", 11, "a.example", NoBody, -1, true, false, false, 1},
		{"connect", "CONNECT a.example:443 HTTP/1.1\r\nHost: a.example:443\r\n\r\n", "CONNECT", "a.example:443", 11, "a.example:443", NoBody, -1, true, false, false, 1},
		{"connect ipv6", "CONNECT [::1]:443 HTTP/1.1\r\nHost: [::1]:443\r\n\r\n", "CONNECT", "[::1]:443", 11, "[::1]:443", NoBody, -1, true, false, false, 1},
		{"options asterisk", "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", "OPTIONS", "*", 11, "a", NoBody, -1, true, false, false, 1},
		{"extension method", "PROPFIND /d/ HTTP/1.1\r\nHost: a\r\n\r\n", "PROPFIND", "/d/", 11, "a", NoBody, -1, true, false, false, 1},
		{"lowercase method kept", "get / HTTP/1.1\r\nHost: a\r\n\r\n", "get", "/", 11, "a", NoBody, -1, true, false, false, 1},
		{"obs-text in value and target", "GET /caf\xc3\xa9 HTTP/1.1\r\nHost: a\r\nX: caf\xc3\xa9\r\n\r\n", "GET", "/caf\xc3\xa9", 11, "a", NoBody, -1, true, false, false, 2},
		{"tab in value", "GET / HTTP/1.1\r\nHost: a\r\nX: a\tb\r\n\r\n", "GET", "/", 11, "a", NoBody, -1, true, false, false, 2},
		{"empty value", "GET / HTTP/1.1\r\nHost: a\r\nX:\r\nY: \t \r\n\r\n", "GET", "/", 11, "a", NoBody, -1, true, false, false, 3},
		{"odd name chars", "GET / HTTP/1.1\r\nHost: a\r\nX-!#$%&'*+.^_`|~: 1\r\n\r\n", "GET", "/", 11, "a", NoBody, -1, true, false, false, 2},
	}
}

// TestRequestFieldsPreserved checks names keep their case and order, values
// are trimmed of OWS only, and AppendHead writes the head back.
func TestRequestFieldsPreserved(t *testing.T) {
	in := "GET /p HTTP/1.1\r\nhOsT: a\r\nX-B:  two words \t\r\nx-a:1\r\nX-B: again\r\n\r\n"
	req, _, err := readOneRequest(in, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	want := []Field{{[]byte("hOsT"), []byte("a")}, {[]byte("X-B"), []byte("two words")}, {[]byte("x-a"), []byte("1")}, {[]byte("X-B"), []byte("again")}}
	got := req.Header.Fields()
	if len(got) != len(want) {
		t.Fatalf("fields %q", got)
	}
	for i := range want {
		if string(got[i].Name) != string(want[i].Name) || string(got[i].Value) != string(want[i].Value) {
			t.Errorf("field %d = %q: %q, want %q: %q", i, got[i].Name, got[i].Value, want[i].Name, want[i].Value)
		}
	}
	const head = "GET /p HTTP/1.1\r\nhOsT: a\r\nX-B: two words\r\nx-a: 1\r\nX-B: again\r\n\r\n"
	if s := string(req.AppendHead(nil)); s != head {
		t.Errorf("AppendHead = %q, want %q", s, head)
	}
}

// TestRequestEOF checks a clean close before a request is io.EOF and a close
// in the middle of one is io.ErrUnexpectedEOF.
func TestRequestEOF(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want error
	}{
		{"", io.EOF},
		{"\r\n", io.EOF},
		{"G", io.ErrUnexpectedEOF},
		{"\r", io.ErrUnexpectedEOF},
		{"GET / HTTP/1.1\r\n", io.ErrUnexpectedEOF},
		{"GET / HTTP/1.1\r\nHost: a\r\n", io.ErrUnexpectedEOF},
		{"GET / HTTP/1.1\r\nHost: a\r\n\r", io.ErrUnexpectedEOF},
	} {
		_, rd, err := readOneRequest(tt.in, Limits{})
		if !errors.Is(err, tt.want) || tt.want == io.EOF && err != io.EOF {
			t.Errorf("ReadRequest(%q) = %v, want %v", tt.in, err, tt.want)
		}
		if StatusOf(err) != 0 {
			t.Errorf("StatusOf(%v) = %d, want 0", err, StatusOf(err))
		}
		if mid := tt.want != io.EOF; mid != (rd.Buffered() > 0) {
			t.Errorf("%q: Buffered = %d after %v", tt.in, rd.Buffered(), err)
		}
	}
}

// TestBodyNotRead checks the next head is refused until the last body has
// been read to its end, and after a body fault.
func TestBodyNotRead(t *testing.T) {
	in := "POST /1 HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc" +
		"POST /2 HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n" +
		"POST /3 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n" +
		"GET /4 HTTP/1.1\r\nHost: a\r\n\r\n"
	rd := NewReader(strings.NewReader(in), Limits{})
	var req Request
	if err := rd.ReadRequest(&req); err != nil {
		t.Fatal(err)
	}
	if err := rd.ReadRequest(&req); !errors.Is(err, ErrBodyNotRead) || StatusOf(err) != 0 {
		t.Fatalf("before the body: %v (status %d)", err, StatusOf(err))
	}
	b := rd.Body(Length, 3)
	if p, err := b.Next(); err != nil || string(p) != "abc" {
		t.Fatalf("body %q %v", p, err)
	}
	if err := rd.ReadRequest(&req); err != nil || string(req.Target) != "/2" {
		t.Fatalf("after the body: %q %v", req.Target, err)
	}
	// Content-Length: 0 owes nothing.
	if err := rd.ReadRequest(&req); err != nil || string(req.Target) != "/3" {
		t.Fatalf("after an empty body: %q %v", req.Target, err)
	}
	if _, err := io.ReadAll(rd.Body(req.Framing, req.ContentLength)); !errors.Is(err, ErrBadChunk) {
		t.Fatalf("bad chunk: %v", err)
	}
	if err := rd.ReadRequest(&req); !errors.Is(err, ErrBodyNotRead) {
		t.Fatalf("after a body fault: %v", err)
	}
	rd.Reset(strings.NewReader("GET /5 HTTP/1.1\r\nHost: a\r\n\r\n"))
	if err := rd.ReadRequest(&req); err != nil || string(req.Target) != "/5" {
		t.Fatalf("after Reset: %q %v", req.Target, err)
	}
}
