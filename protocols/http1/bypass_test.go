package http1

import (
	"io"

	"testing"
)

// A caller moves the rest of a Content-Length body itself once the Reader
// has handed out what it buffered; the Reader then stands at the next head.
func TestBodyBypass(t *testing.T) {
	src := &stepReader{parts: []string{
		"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabcd", // the head and 4 body bytes in one read
		"efghij", // moved by the caller, not read here
		"HTTP/1.1 204 No Content\r\n\r\n",
	}}
	rd := NewReader(src, Limits{})
	var resp Response
	if err := rd.ReadResponse(&resp, []byte("GET")); err != nil {
		t.Fatal(err)
	}
	br := rd.Body(resp.Framing, resp.ContentLength)
	if n := br.Bypassable(); n != 0 {
		t.Fatalf("Bypassable = %d with body bytes still buffered, want 0", n)
	}
	p, err := br.Next()
	if err != nil || string(p) != "abcd" {
		t.Fatalf("Next = %q, %v", p, err)
	}
	if n := br.Bypassable(); n != 6 {
		t.Fatalf("Bypassable = %d, want 6", n)
	}
	if err := br.Bypassed(7); err == nil {
		t.Fatal("Bypassed past the body's end accepted")
	}
	src.skip() // the caller's own read of the 6 bytes
	if err := br.Bypassed(6); err != nil {
		t.Fatal(err)
	}
	if !br.Done() || br.Bytes() != 10 {
		t.Fatalf("after the bypass: done %v, %d bytes", br.Done(), br.Bytes())
	}
	if err := rd.ReadResponse(&resp, []byte("GET")); err != nil || resp.Status != 204 {
		t.Fatalf("next head: %d, %v", resp.Status, err)
	}
	if n := rd.Body(Chunked, 0).Bypassable(); n != 0 {
		t.Fatalf("Bypassable = %d for a chunked body, want 0", n)
	}
}

// stepReader returns one part per Read; skip drops the next part, standing
// for bytes the caller took from the connection itself.
type stepReader struct{ parts []string }

func (s *stepReader) Read(p []byte) (int, error) {
	if len(s.parts) == 0 {
		return 0, io.EOF
	}
	n := copy(p, s.parts[0])
	if n < len(s.parts[0]) {
		s.parts[0] = s.parts[0][n:]
	} else {
		s.parts = s.parts[1:]
	}
	return n, nil
}

func (s *stepReader) skip() { s.parts = s.parts[1:] }
