package http1

import (
	"errors"
	"io"
	"strings"
	"testing"
)

// TestResponseRejects checks the status line and framing rules on the
// response side.
func TestResponseRejects(t *testing.T) {
	long := strings.Repeat("a", 100)
	tests := []struct {
		name   string
		in     string
		want   error
		status int
	}{
		{"te and cl", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n", ErrTEWithContentLength, 400},
		{"te and cl on head response", "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", ErrTEWithContentLength, 400},
		{"te on 1.0", "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", ErrTEOnHTTP10, 400},
		{"te not final", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", ErrBadTransferEncoding, 400},
		{"te unsupported", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", ErrUnsupportedTransferCoding, 501},
		{"te chunked twice", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", ErrBadTransferEncoding, 400},
		{"cl twice", "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\n", ErrBadContentLength, 400},
		{"cl list", "HTTP/1.1 200 OK\r\nContent-Length: 3,3\r\n\r\n", ErrBadContentLength, 400},
		{"cl negative", "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", ErrBadContentLength, 400},
		{"obs-fold", "HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n", ErrObsFold, 400},
		{"space before colon", "HTTP/1.1 200 OK\r\nContent-Length : 3\r\n\r\n", ErrSpaceBeforeColon, 400},
		{"bare cr", "HTTP/1.1 200 OK\r\nX: a\rb\r\n\r\n", ErrBadField, 400},
		{"nul", "HTTP/1.1 200 OK\r\nX: \x00\r\n\r\n", ErrBadField, 400},
		{"bare lf", "HTTP/1.1 200 OK\nX: a\r\n\r\n", ErrBadStartLine, 400},
		{"bare lf field", "HTTP/1.1 200 OK\r\nX: a\n\r\n", ErrBadField, 400},
		{"no space after version", "HTTP/1.1200 OK\r\n\r\n", ErrBadStartLine, 400},
		{"lowercase version", "http/1.1 200 OK\r\n\r\n", ErrBadStartLine, 400},
		{"short version", "HTTP/1 200 OK\r\n\r\n", ErrBadStartLine, 400},
		{"http/2.0", "HTTP/2.0 200 OK\r\n\r\n", ErrBadVersion, 505},
		{"two-digit status", "HTTP/1.1 20 OK\r\n\r\n", ErrBadStatus, 400},
		{"four-digit status", "HTTP/1.1 2000 OK\r\n\r\n", ErrBadStatus, 400},
		{"status letters", "HTTP/1.1 2x0 OK\r\n\r\n", ErrBadStatus, 400},
		{"status 099", "HTTP/1.1 099 OK\r\n\r\n", ErrBadStatus, 400},
		{"status 600", "HTTP/1.1 600 OK\r\n\r\n", ErrBadStatus, 400},
		{"double space", "HTTP/1.1  200 OK\r\n\r\n", ErrBadStatus, 400},
		{"ctl in reason", "HTTP/1.1 200 O\x01K\r\n\r\n", ErrBadStartLine, 400},
		{"status line too long", "HTTP/1.1 200 " + long + "\r\n\r\n", ErrLineTooLong, 431},
		{"too many fields", "HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\nE: 5\r\n\r\n", ErrTooManyHeaders, 431},
		{"head too large", "HTTP/1.1 200 OK\r\n" + strings.Repeat("X: "+long[:55]+"\r\n", 4), ErrHeadTooLarge, 431},
	}
	lim := Limits{MaxLineBytes: 64, MaxHeadBytes: 200, MaxHeaders: 4}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rd := NewReader(strings.NewReader(tt.in), lim)
			var resp Response
			err := rd.ReadResponse(&resp, []byte("GET"))
			if !errors.Is(err, tt.want) {
				t.Fatalf("ReadResponse(%q) = %v, want %v", tt.in, err, tt.want)
			}
			if got := StatusOf(err); got != tt.status {
				t.Fatalf("StatusOf(%v) = %d, want %d", err, got, tt.status)
			}
		})
	}
}

// TestResponseAccepts checks status, reason, framing and keep-alive of
// well-formed responses, for the request method given.
func TestResponseAccepts(t *testing.T) {
	tests := []struct {
		name      string
		in        string
		method    string
		version   int
		status    int
		reason    string
		framing   Framing
		cl        int64
		keepAlive bool
	}{
		{"ok cl", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", "GET", 11, 200, "OK", Length, 5, true},
		{"chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", "GET", 11, 200, "OK", Chunked, -1, true},
		{"until close", "HTTP/1.1 200 OK\r\n\r\n", "GET", 11, 200, "OK", UntilClose, -1, false},
		{"until close 1.0", "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n\r\n", "GET", 10, 200, "OK", UntilClose, -1, false},
		{"1.0 keep-alive", "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n", "GET", 10, 200, "OK", Length, 0, true},
		{"1.0 default close", "HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", "GET", 10, 200, "OK", Length, 0, false},
		{"close", "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n", "GET", 11, 200, "OK", Length, 0, false},
		{"head", "HTTP/1.1 200 OK\r\nContent-Length: 500\r\n\r\n", "HEAD", 11, 200, "OK", NoBody, 500, true},
		{"head chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", "HEAD", 11, 200, "OK", NoBody, -1, true},
		{"204", "HTTP/1.1 204 No Content\r\n\r\n", "DELETE", 11, 204, "No Content", NoBody, -1, true},
		{"304", "HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n", "GET", 11, 304, "Not Modified", NoBody, 10, true},
		{"100", "HTTP/1.1 100 Continue\r\n\r\n", "POST", 11, 100, "Continue", NoBody, -1, true},
		{"connect 200", "HTTP/1.1 200 Connection established\r\n\r\n", "CONNECT", 11, 200, "Connection established", NoBody, -1, true},
		{"connect 407", "HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n", "CONNECT", 11, 407, "Proxy Authentication Required", Length, 0, true},
		{"101", "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n", "GET", 11, 101, "Switching Protocols", NoBody, -1, true},
		{"empty reason", "HTTP/1.1 404 \r\nContent-Length: 0\r\n\r\n", "GET", 11, 404, "", Length, 0, true},
		{"no reason no space", "HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n", "GET", 11, 200, "", Length, 0, true},
		{"reason with spaces and obs-text", "HTTP/1.1 500 Int\xe9rnal  Server\tError\r\nContent-Length: 0\r\n\r\n", "GET", 11, 500, "Int\xe9rnal  Server\tError", Length, 0, true},
		{"599", "HTTP/1.1 599 x\r\nContent-Length: 0\r\n\r\n", "GET", 11, 599, "x", Length, 0, true},
		{"http/1.1 minor 9", "HTTP/1.9 200 OK\r\nContent-Length: 0\r\n\r\n", "GET", 11, 200, "OK", Length, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rd := NewReader(strings.NewReader(tt.in), Limits{})
			var resp Response
			if err := rd.ReadResponse(&resp, []byte(tt.method)); err != nil {
				t.Fatalf("ReadResponse(%q): %v", tt.in, err)
			}
			if resp.Version != tt.version || resp.Status != tt.status || string(resp.Reason) != tt.reason {
				t.Errorf("got %d %d %q, want %d %d %q", resp.Version, resp.Status, resp.Reason, tt.version, tt.status, tt.reason)
			}
			if resp.Framing != tt.framing || resp.ContentLength != tt.cl || resp.KeepAlive != tt.keepAlive {
				t.Errorf("framing %v %d keep-alive %v, want %v %d %v", resp.Framing, resp.ContentLength, resp.KeepAlive, tt.framing, tt.cl, tt.keepAlive)
			}
			again := NewReader(strings.NewReader(string(resp.AppendHead(nil))), Limits{})
			var resp2 Response
			if err := again.ReadResponse(&resp2, []byte(tt.method)); err != nil {
				t.Fatalf("AppendHead %q does not parse: %v", resp.AppendHead(nil), err)
			}
			if resp2.Status != resp.Status || string(resp2.Reason) != string(resp.Reason) || resp2.Framing != resp.Framing ||
				resp2.Header.Len() != resp.Header.Len() {
				t.Errorf("AppendHead round trip: %+v, want %+v", resp2, resp)
			}
		})
	}
}

// TestResponseInterim checks a 1xx response followed by the final one on the
// same Reader, body included.
func TestResponseInterim(t *testing.T) {
	in := "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n" +
		"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"
	rd := NewReader(strings.NewReader(in), Limits{})
	var resp Response
	var statuses []int
	for {
		if err := rd.ReadResponse(&resp, []byte("POST")); err != nil {
			t.Fatal(err)
		}
		statuses = append(statuses, resp.Status)
		if resp.Status >= 200 {
			break
		}
		if resp.Framing != NoBody {
			t.Fatalf("1xx framing %v", resp.Framing)
		}
	}
	if len(statuses) != 3 || statuses[0] != 100 || statuses[1] != 103 || statuses[2] != 200 {
		t.Fatalf("statuses %v", statuses)
	}
	body, err := io.ReadAll(rd.Body(resp.Framing, resp.ContentLength))
	if err != nil || string(body) != "hello" {
		t.Fatalf("body %q, %v", body, err)
	}
	if err := rd.ReadResponse(&resp, []byte("GET")); err != io.EOF {
		t.Fatalf("after the last response: %v, want io.EOF", err)
	}
}

// TestResponseEOF checks a clean close before a response is io.EOF and one
// in the middle is io.ErrUnexpectedEOF.
func TestResponseEOF(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want error
	}{
		{"", io.EOF},
		{"HTTP/1.1 200 OK\r\n", io.ErrUnexpectedEOF},
		{"HTTP/1.1 2", io.ErrUnexpectedEOF},
	} {
		rd := NewReader(strings.NewReader(tt.in), Limits{})
		var resp Response
		err := rd.ReadResponse(&resp, nil)
		if !errors.Is(err, tt.want) || tt.want == io.EOF && err != io.EOF {
			t.Errorf("ReadResponse(%q) = %v, want %v", tt.in, err, tt.want)
		}
	}
}
