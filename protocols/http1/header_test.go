package http1

import (
	"strings"
	"testing"
)

// TestHeader exercises every Header method.
func TestHeader(t *testing.T) {
	var h Header
	if h.Len() != 0 || h.Get("x") != nil || h.Has("x") || h.Count("x") != 0 || h.Del("x") != 0 {
		t.Fatal("zero Header not empty")
	}
	name, value := []byte("Content-Type"), []byte("text/plain")
	h.AddBytes(name, value)
	copy(name, "XXXXXXXXXXXX")
	copy(value, "YYYYYYYYYY")
	h.Add("Connection", "keep-alive, Upgrade")
	h.Add("x-dup", "1")
	h.Add("Empty", "")
	h.Add("X-Dup", "2")
	h.Add("connection", "TE")
	if got := string(h.Get("content-type")); got != "text/plain" {
		t.Fatalf("Get after the caller changed its bytes = %q", got)
	}
	if v := h.Get("EMPTY"); v == nil || len(v) != 0 {
		t.Fatalf("Get(empty field) = %#v, want empty non-nil", v)
	}
	if !h.Has("X-DUP") || h.Count("x-dup") != 2 || string(h.Get("X-Dup")) != "1" {
		t.Fatal("Has/Count/Get on a repeated field")
	}
	for _, tt := range []struct {
		name, token string
		want        bool
	}{
		{"Connection", "upgrade", true}, {"connection", "KEEP-ALIVE", true}, {"Connection", "te", true},
		{"Connection", "close", false}, {"Connection", "keep", false}, {"X-Dup", "2", true}, {"Nope", "x", false},
	} {
		if got := h.HasToken(tt.name, tt.token); got != tt.want {
			t.Errorf("HasToken(%q, %q) = %v", tt.name, tt.token, got)
		}
	}
	h.Set("X-DUP", "3")
	if h.Count("x-dup") != 1 || string(h.Get("x-dup")) != "3" || string(h.Fields()[2].Name) != "x-dup" {
		t.Fatalf("Set: %q", h.AppendTo(nil))
	}
	h.Set("New", "n")
	if string(h.Fields()[h.Len()-1].Name) != "New" {
		t.Fatal("Set of an absent field does not append")
	}
	if n := h.Del("CONNECTION"); n != 2 || h.Has("connection") {
		t.Fatalf("Del = %d", n)
	}
	const want = "Content-Type: text/plain\r\nx-dup: 3\r\nEmpty: \r\nNew: n\r\n"
	if got := string(h.AppendTo(nil)); got != want {
		t.Fatalf("AppendTo = %q, want %q", got, want)
	}
	var c Header
	c.Add("Old", "o")
	c.CopyFrom(&h)
	h.Set("Content-Type", "changed")
	h.Reset()
	h.Add("Other", "zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz")
	if got := string(c.AppendTo(nil)); got != want {
		t.Fatalf("copy = %q, want %q", got, want)
	}
	c.CopyFrom(&c)
	if got := string(c.AppendTo(nil)); got != want {
		t.Fatalf("self copy = %q", got)
	}
	if h.Len() != 1 {
		t.Fatal("Reset did not empty")
	}
}

// TestHeaderNoAlloc checks a Header refilled after Reset, and lookups, do
// not allocate.
func TestHeaderNoAlloc(t *testing.T) {
	var h Header
	values := make([]string, 20)
	for i := range values {
		values[i] = strings.Repeat("v", i)
	}
	fill := func() {
		h.Reset()
		for _, v := range values {
			h.Add("X-Field", v)
		}
		h.Set("x-field", "one")
		_ = h.Get("X-FIELD")
		_ = h.HasToken("x-field", "one")
		_ = h.Del("nope")
	}
	fill()
	if n := testing.AllocsPerRun(100, fill); n != 0 {
		t.Fatalf("%v allocations per refill", n)
	}
}

// TestReadRequestNoAlloc checks ReadRequest, with a reused Reader and
// Request, allocates nothing once warm.
func TestReadRequestNoAlloc(t *testing.T) {
	in := strings.NewReader(browserGET)
	rd := NewReader(in, Limits{})
	var req Request
	read := func() {
		in.Reset(browserGET)
		rd.Reset(in)
		if err := rd.ReadRequest(&req); err != nil {
			t.Fatal(err)
		}
	}
	read()
	if n := testing.AllocsPerRun(100, read); n != 0 {
		t.Fatalf("%v allocations per ReadRequest", n)
	}
}

// browserGET is a typical browser request head.
const browserGET = "GET /assets/app.js?v=3 HTTP/1.1\r\n" +
	"Host: www.example.com\r\n" +
	"User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0\r\n" +
	"Accept: */*\r\n" +
	"Accept-Language: en-GB,en;q=0.5\r\n" +
	"Accept-Encoding: gzip, deflate, br, zstd\r\n" +
	"Referer: https://www.example.com/\r\n" +
	"Connection: keep-alive\r\n" +
	"Cookie: session=3f2a9c1b7e; theme=dark\r\n" +
	"Sec-Fetch-Dest: script\r\n" +
	"Sec-Fetch-Mode: no-cors\r\n" +
	"If-None-Match: \"abc123\"\r\n\r\n"

func TestHeaderDelFunc(t *testing.T) {
	var h Header
	for _, n := range []string{"A", "b", "C", "a", "D"} {
		h.Add(n, "v")
	}
	n := h.DelFunc(func(name []byte) bool { return equalFold(name, "a") || equalFold(name, "c") })
	var got []string
	for _, f := range h.Fields() {
		got = append(got, string(f.Name))
	}
	if n != 3 || strings.Join(got, ",") != "b,D" {
		t.Errorf("removed %d, left %v", n, got)
	}
}
