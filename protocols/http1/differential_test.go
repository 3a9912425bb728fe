package http1

import (
	"bufio"
	"net/http"
	"net/textproto"
	"strings"
	"testing"
)

// TestDifferentialAccepts reads each well-formed request with net/http's
// http.ReadRequest and ours; both must accept and agree on method, target,
// version, fields (net/http canonicalises names and moves Host out of
// Header), content length and chunkedness.
func TestDifferentialAccepts(t *testing.T) {
	cases := requestAcceptCases()
	extra := []string{
		"GET /a%20b?x=%2F&y HTTP/1.1\r\nHost: a\r\nX-Multi: 1\r\nx-multi: 2\r\nX-MULTI: 3\r\n\r\n",
		"POST /x HTTP/1.1\r\nHost: a\r\nContent-Length:10\r\n\r\n",
		"POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: \t10\t \r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nX:   lots   of   inner   space   \r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nX: \"quoted, with comma\"\r\n\r\n",
		"DELETE /r/1 HTTP/1.0\r\nHost: a\r\nContent-Length: 0\r\n\r\n",
		"GET http://h.example:8080/p HTTP/1.1\r\nHost: h.example:8080\r\n\r\n",
		"GET // HTTP/1.1\r\nHost: a\r\n\r\n",
	}
	for _, in := range extra {
		cases = append(cases, acceptCase{name: "extra", in: in})
	}
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			req, _, err := readOneRequest(tt.in, Limits{})
			if err != nil {
				t.Fatalf("ours rejects %q: %v", tt.in, err)
			}
			// http.ReadRequest does not skip the empty lines RFC 9112 2.2
			// lets a server ignore before the request line (net/http's
			// server does not either); give it the request without them.
			std, err := http.ReadRequest(bufio.NewReader(strings.NewReader(strings.TrimLeft(tt.in, "\r\n"))))
			if err != nil {
				t.Fatalf("net/http rejects %q: %v", tt.in, err)
			}
			if string(req.Method) != std.Method || string(req.Target) != std.RequestURI {
				t.Errorf("ours %q %q, net/http %q %q", req.Method, req.Target, std.Method, std.RequestURI)
			}
			if std.ProtoMajor != 1 || req.Version == 10 != (std.ProtoMinor == 0) {
				t.Errorf("ours version %d, net/http %d.%d", req.Version, std.ProtoMajor, std.ProtoMinor)
			}
			if string(req.Host) != std.Host && req.Host != nil {
				t.Errorf("ours host %q, net/http %q", req.Host, std.Host)
			}
			// Field values per name, in order, Host apart.
			ours := map[string][]string{}
			for _, f := range req.Header.Fields() {
				k := textproto.CanonicalMIMEHeaderKey(string(f.Name))
				if k != "Host" {
					ours[k] = append(ours[k], string(f.Value))
				}
			}
			for k, v := range std.Header {
				if strings.Join(ours[k], "\x00") != strings.Join(v, "\x00") {
					t.Errorf("field %s: ours %q, net/http %q", k, ours[k], v)
				}
			}
			for k := range ours {
				if _, ok := std.Header[k]; !ok && k != "Transfer-Encoding" {
					t.Errorf("field %s only in ours", k)
				}
			}
			chunked := len(std.TransferEncoding) == 1 && std.TransferEncoding[0] == "chunked"
			if chunked != (req.Framing == Chunked) {
				t.Errorf("chunked: ours %v, net/http %v", req.Framing, std.TransferEncoding)
			}
			wantCL := std.ContentLength
			if req.Framing == NoBody && wantCL == 0 {
				wantCL = -1 // net/http says 0 for a request without a body
			}
			if req.ContentLength != wantCL {
				t.Errorf("content length: ours %d, net/http %d", req.ContentLength, std.ContentLength)
			}
		})
	}
}

// TestDifferentialRejects reads each malformed request with both: wherever
// net/http rejects, ours must too. Where only ours rejects (we are stricter)
// the case is logged.
func TestDifferentialRejects(t *testing.T) {
	var stricter []string
	for _, tt := range requestRejectCases() {
		_, _, ours := readOneRequest(tt.in, rejectLimits)
		_, std := http.ReadRequest(bufio.NewReader(strings.NewReader(tt.in)))
		switch {
		case ours == nil && std != nil:
			t.Errorf("%s: net/http rejects (%v), ours accepts", tt.name, std)
		case ours == nil:
			t.Errorf("%s: ours accepts a malformed request", tt.name)
		case std == nil:
			stricter = append(stricter, tt.name)
		}
	}
	t.Logf("rejected by ours only (%d): %s", len(stricter), strings.Join(stricter, "; "))
}
