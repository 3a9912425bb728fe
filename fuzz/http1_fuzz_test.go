package fuzz

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/sluice-proxy/sluice/protocols/http1"
)

// h1Limits are small limits, so the fuzzer reaches them.
var h1Limits = http1.Limits{MaxHeadBytes: 2048, MaxHeaders: 16, MaxLineBytes: 512, MaxChunkExtBytes: 64, MaxTrailerBytes: 512}

// h1RoundTripLimits read back what AppendHead wrote, which may be longer
// than what was read: it writes a space after each colon.
var h1RoundTripLimits = http1.Limits{MaxHeadBytes: 4096, MaxHeaders: 16, MaxLineBytes: 1024}

// h1Counter counts the bytes read through it.
type h1Counter struct {
	r io.Reader
	n int
}

func (c *h1Counter) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

// h1MaxMessages bounds the messages read from one input.
const h1MaxMessages = 16

// h1RequestSeeds are FuzzHTTP1Request's seeds: well-formed requests of each
// framing, pipelined ones, and malformed ones for the main rules. Each also
// lives in testdata/fuzz/FuzzHTTP1Request/<name>.
func h1RequestSeeds() map[string][]byte {
	const h = "Host: example.com\r\n"
	return map[string][]byte{
		"get":             []byte("GET /index.html?q=1 HTTP/1.1\r\n" + h + "Accept: */*\r\nConnection: keep-alive\r\n\r\n"),
		"post-cl":         []byte("POST /form HTTP/1.1\r\n" + h + "Content-Length: 5\r\n\r\nhello"),
		"post-chunked":    []byte("POST /up HTTP/1.1\r\n" + h + "Transfer-Encoding: chunked\r\n\r\n5;a=\"b\"\r\nhello\r\n0\r\nT: v\r\n\r\n"),
		"pipelined":       []byte("GET /1 HTTP/1.1\r\n" + h + "\r\nPOST /2 HTTP/1.1\r\n" + h + "Content-Length: 2\r\n\r\nhiGET /3 HTTP/1.0\r\n\r\n"),
		"http10":          []byte("\r\nGET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"),
		"connect":         []byte("CONNECT a.example:443 HTTP/1.1\r\nHost: a.example:443\r\n\r\n"),
		"upgrade":         []byte("GET /ws HTTP/1.1\r\n" + h + "Connection: Upgrade\r\nUpgrade: websocket\r\nExpect: 100-continue\r\n\r\n"),
		"te-and-cl":       []byte("POST / HTTP/1.1\r\n" + h + "Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n"),
		"cl-twice":        []byte("POST / HTTP/1.1\r\n" + h + "Content-Length: 1\r\nContent-Length: 1\r\n\r\nx"),
		"te-gzip":         []byte("POST / HTTP/1.1\r\n" + h + "Transfer-Encoding: gzip, chunked\r\n\r\n"),
		"obs-fold":        []byte("GET / HTTP/1.1\r\n" + h + "X: a\r\n b\r\n\r\n"),
		"space-colon":     []byte("GET / HTTP/1.1\r\n" + h + "X : a\r\n\r\n"),
		"bare-lf":         []byte("GET / HTTP/1.1\n" + h + "\n"),
		"bare-cr":         []byte("GET / HTTP/1.1\r\n" + h + "X: a\rb\r\n\r\n"),
		"no-host":         []byte("GET / HTTP/1.1\r\n\r\n"),
		"http2":           []byte("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"),
		"bad-chunk":       []byte("POST / HTTP/1.1\r\n" + h + "Transfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n"),
		"truncated-body":  []byte("POST / HTTP/1.1\r\n" + h + "Content-Length: 10\r\n\r\nabc"),
		"too-many-fields": []byte("GET / HTTP/1.1\r\n" + h + strings.Repeat("X: y\r\n", 20) + "\r\n"),
		"empty":           {},
	}
}

// FuzzHTTP1Request reads requests, and their bodies to the end, from
// arbitrary bytes, delivered whole and one byte per read: the two must
// agree. Every error must be a documented one, every accepted head must
// respect the limits, and re-serialised with AppendHead must read back the
// same.
func FuzzHTTP1Request(f *testing.F) {
	for _, seed := range h1RequestSeeds() {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		whole := h1ReadRequests(t, bytes.NewReader(in), len(in))
		trickle := h1ReadRequests(t, iotest.OneByteReader(bytes.NewReader(in)), len(in))
		if whole != trickle {
			t.Fatalf("one read and byte by byte disagree:\n%s\n%s", whole, trickle)
		}
		h1CompareNetHTTP(t, in)
	})
}

// h1CompareNetHTTP checks that a first request head we accept is accepted by
// net/http's http.ReadRequest too, with the same method, target and framing:
// we may be stricter than net/http, never looser. http.ReadRequest does not
// skip empty lines before the request line (RFC 9112 2.2 lets a server), so
// it is given the input without them.
func h1CompareNetHTTP(t *testing.T, in []byte) {
	t.Helper()
	rd := http1.NewReader(bytes.NewReader(in), h1Limits)
	var req http1.Request
	if rd.ReadRequest(&req) != nil {
		return
	}
	for bytes.HasPrefix(in, []byte("\r\n")) {
		in = in[2:]
	}
	std, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(in)))
	if err != nil {
		t.Fatalf("we accept %q, net/http rejects it: %v", in, err)
	}
	chunked := len(std.TransferEncoding) > 0 && std.TransferEncoding[len(std.TransferEncoding)-1] == "chunked"
	cl := std.ContentLength
	if req.Framing == http1.NoBody && cl == 0 {
		cl = -1
	}
	if std.Method != string(req.Method) || std.RequestURI != string(req.Target) ||
		chunked != (req.Framing == http1.Chunked) || !chunked && cl != req.ContentLength {
		t.Fatalf("%q: ours %q %q %v %d, net/http %q %q %v %d", in, req.Method, req.Target, req.Framing, req.ContentLength,
			std.Method, std.RequestURI, std.TransferEncoding, std.ContentLength)
	}
}

// h1ReadRequests reads requests from src until an error and returns a
// transcript of what it read, checking each request on the way.
func h1ReadRequests(t *testing.T, src io.Reader, inLen int) string {
	t.Helper()
	var out strings.Builder
	cr := &h1Counter{r: src}
	rd := http1.NewReader(cr, h1Limits)
	var req http1.Request
	for range h1MaxMessages {
		before := cr.n - rd.Buffered()
		err := rd.ReadRequest(&req)
		if err != nil {
			out.WriteString("error " + h1ErrorClass(t, err))
			return out.String()
		}
		// Up to 8 empty lines before the request line are not head bytes.
		if n := cr.n - rd.Buffered() - before; n > h1Limits.MaxHeadBytes+16 {
			t.Fatalf("accepted a head of %d bytes, limit %d", n, h1Limits.MaxHeadBytes)
		}
		h1CheckRequest(t, &req)
		out.Write(req.AppendHead(nil))
		body, class := h1ReadBody(t, rd, req.Framing, req.ContentLength, inLen)
		out.WriteString("body " + string(body) + " " + class + "\n")
		if class != "ok" {
			return out.String()
		}
	}
	return out.String()
}

// h1CheckRequest checks an accepted request and its AppendHead round trip.
func h1CheckRequest(t *testing.T, req *http1.Request) {
	t.Helper()
	if len(req.Method) == 0 || len(req.Target) == 0 || req.Version != 10 && req.Version != 11 {
		t.Fatalf("accepted %q %q %d", req.Method, req.Target, req.Version)
	}
	if req.Header.Len() > h1Limits.MaxHeaders {
		t.Fatalf("%d fields, limit %d", req.Header.Len(), h1Limits.MaxHeaders)
	}
	head := req.AppendHead(nil)
	switch req.Framing {
	case http1.NoBody:
		if req.ContentLength != -1 {
			t.Fatalf("NoBody with length %d", req.ContentLength)
		}
	case http1.Length:
		if req.ContentLength < 0 || req.Header.Count("Content-Length") != 1 || req.Header.Has("Transfer-Encoding") {
			t.Fatalf("Length framing from %q", head)
		}
	case http1.Chunked:
		if req.ContentLength != -1 || req.Header.Has("Content-Length") || req.Version != 11 {
			t.Fatalf("Chunked framing from %q", head)
		}
	default:
		t.Fatalf("request framing %v", req.Framing)
	}
	if req.Version == 11 && req.Header.Count("Host") != 1 || req.Header.Count("Host") > 1 {
		t.Fatalf("accepted Host fields in %q", head)
	}
	again := http1.NewReader(bytes.NewReader(head), h1RoundTripLimits)
	var req2 http1.Request
	if err := again.ReadRequest(&req2); err != nil {
		t.Fatalf("AppendHead %q does not read back: %v", head, err)
	}
	if !bytes.Equal(req2.AppendHead(nil), head) || req2.Framing != req.Framing || req2.ContentLength != req.ContentLength ||
		req2.KeepAlive != req.KeepAlive || req2.Upgrade != req.Upgrade || req2.ExpectContinue != req.ExpectContinue ||
		!bytes.Equal(req2.Host, req.Host) {
		t.Fatalf("AppendHead round trip differs:\n%q %+v\n%q %+v", head, req, req2.AppendHead(nil), req2)
	}
	if again.Buffered() != 0 {
		t.Fatalf("%d bytes left after reading back %q", again.Buffered(), head)
	}
}

// h1ReadBody reads a body to its end with Read and returns it and how it
// ended ("ok" or an error class).
func h1ReadBody(t *testing.T, rd *http1.Reader, f http1.Framing, cl int64, inLen int) ([]byte, string) {
	t.Helper()
	b := rd.Body(f, cl)
	body, err := io.ReadAll(b)
	if int64(len(body)) != b.Bytes() {
		t.Fatalf("read %d body bytes, Bytes says %d", len(body), b.Bytes())
	}
	if len(body) > inLen {
		t.Fatalf("%d body bytes from %d input bytes", len(body), inLen)
	}
	if err != nil {
		if b.Done() {
			t.Fatalf("Done after %v", err)
		}
		return body, h1ErrorClass(t, err)
	}
	if !b.Done() {
		t.Fatal("not Done at io.EOF")
	}
	if f == http1.Length && int64(len(body)) != cl {
		t.Fatalf("body of %d bytes, Content-Length %d", len(body), cl)
	}
	tr := b.Trailers()
	if tr.Len() > h1Limits.MaxHeaders || len(tr.AppendTo(nil)) > h1Limits.MaxTrailerBytes {
		t.Fatalf("trailers beyond the limits: %q", tr.AppendTo(nil))
	}
	if f != http1.Chunked && tr.Len() != 0 {
		t.Fatalf("trailers on a %v body", f)
	}
	return append(body, tr.AppendTo(nil)...), "ok"
}

// h1Errors are the errors the codec documents.
var h1Errors = []struct {
	name string
	err  error
}{
	{"eof", io.EOF}, {"unexpected eof", io.ErrUnexpectedEOF},
	{"head too large", http1.ErrHeadTooLarge}, {"line too long", http1.ErrLineTooLong},
	{"too many headers", http1.ErrTooManyHeaders}, {"uri too long", http1.ErrURITooLong},
	{"bad start line", http1.ErrBadStartLine}, {"bad version", http1.ErrBadVersion},
	{"bad field", http1.ErrBadField}, {"obs-fold", http1.ErrObsFold},
	{"space before colon", http1.ErrSpaceBeforeColon}, {"bad content-length", http1.ErrBadContentLength},
	{"bad transfer-encoding", http1.ErrBadTransferEncoding}, {"unsupported coding", http1.ErrUnsupportedTransferCoding},
	{"te with cl", http1.ErrTEWithContentLength}, {"te on 1.0", http1.ErrTEOnHTTP10},
	{"missing host", http1.ErrMissingHost}, {"repeated host", http1.ErrRepeatedHost},
	{"bad chunk", http1.ErrBadChunk}, {"chunk ext too long", http1.ErrChunkExtTooLong},
	{"trailer too large", http1.ErrTrailerTooLarge}, {"bad status", http1.ErrBadStatus},
	{"body not read", http1.ErrBodyNotRead}, // never expected: the bodies are read to the end
}

// h1ErrorClass names the one documented error err matches, and checks
// StatusOf agrees: a status for the codec's own errors, 0 for the ends of
// input (io.EOF always bare).
func h1ErrorClass(t *testing.T, err error) string {
	t.Helper()
	var classes []string
	for _, c := range h1Errors {
		if errors.Is(err, c.err) {
			classes = append(classes, c.name)
		}
	}
	if len(classes) != 1 {
		t.Fatalf("error %q matches %v, want exactly one documented error", err, classes)
	}
	st := http1.StatusOf(err)
	switch classes[0] {
	case "eof":
		if err != io.EOF {
			t.Fatalf("io.EOF wrapped: %v", err)
		}
		fallthrough
	case "unexpected eof":
		if st != 0 {
			t.Fatalf("StatusOf(%v) = %d", err, st)
		}
	default:
		if st != 400 && st != 414 && st != 431 && st != 501 && st != 505 {
			t.Fatalf("StatusOf(%v) = %d", err, st)
		}
	}
	return classes[0]
}

// h1ResponseSeeds are FuzzHTTP1Response's seeds. The first byte picks the
// request method (odd: HEAD, even: GET); the rest is the upstream's bytes.
func h1ResponseSeeds() map[string][]byte {
	get := func(s string) []byte { return []byte("G" + s) }
	head := func(s string) []byte { return []byte("H" + s) }
	return map[string][]byte{
		"ok-cl":        get("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n\r\nhello"),
		"chunked":      get("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;x\r\nabc\r\n0\r\nEtag: 1\r\n\r\n"),
		"until-close":  get("HTTP/1.0 200 OK\r\n\r\neverything until close"),
		"interim":      get("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n"),
		"head":         head("HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n"),
		"not-modified": get("HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\nHTTP/1.1 200 \r\nContent-Length: 0\r\n\r\n"),
		"switching":    get("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n\x81\x00"),
		"no-reason":    get("HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n"),
		"te-and-cl":    get("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n"),
		"bad-status":   get("HTTP/1.1 2000 OK\r\n\r\n"),
		"http2":        get("HTTP/2.0 200 OK\r\n\r\n"),
		"bare-lf":      get("HTTP/1.1 200 OK\nContent-Length: 0\n\n"),
		"empty":        {},
	}
}

// FuzzHTTP1Response reads responses, and their bodies, from arbitrary bytes,
// delivered whole and one byte per read: the two must agree, errors must be
// documented ones, and an accepted head must read back the same from
// AppendHead.
func FuzzHTTP1Response(f *testing.F) {
	for _, seed := range h1ResponseSeeds() {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) == 0 {
			return
		}
		method := []byte("GET")
		if in[0]&1 == 1 {
			method = []byte("HEAD")
		}
		in = in[1:]
		whole := h1ReadResponses(t, bytes.NewReader(in), method, len(in))
		trickle := h1ReadResponses(t, iotest.OneByteReader(bytes.NewReader(in)), method, len(in))
		if whole != trickle {
			t.Fatalf("one read and byte by byte disagree:\n%s\n%s", whole, trickle)
		}
	})
}

// h1ReadResponses reads responses from src until an error and returns a
// transcript, checking each on the way.
func h1ReadResponses(t *testing.T, src io.Reader, method []byte, inLen int) string {
	t.Helper()
	var out strings.Builder
	rd := http1.NewReader(src, h1Limits)
	var resp http1.Response
	for range h1MaxMessages {
		if err := rd.ReadResponse(&resp, method); err != nil {
			out.WriteString("error " + h1ErrorClass(t, err))
			return out.String()
		}
		if resp.Status < 100 || resp.Status > 599 || resp.Version != 10 && resp.Version != 11 ||
			resp.Header.Len() > h1Limits.MaxHeaders {
			t.Fatalf("accepted %+v", resp)
		}
		noBody := string(method) == "HEAD" || resp.Status < 200 || resp.Status == 204 || resp.Status == 304
		if noBody != (resp.Framing == http1.NoBody) || resp.Framing == http1.UntilClose && resp.KeepAlive {
			t.Fatalf("status %d to %s framed %v keep-alive %v", resp.Status, method, resp.Framing, resp.KeepAlive)
		}
		head := resp.AppendHead(nil)
		again := http1.NewReader(bytes.NewReader(head), h1RoundTripLimits)
		var resp2 http1.Response
		if err := again.ReadResponse(&resp2, method); err != nil {
			t.Fatalf("AppendHead %q does not read back: %v", head, err)
		}
		if !bytes.Equal(resp2.AppendHead(nil), head) || resp2.Framing != resp.Framing ||
			resp2.ContentLength != resp.ContentLength || resp2.KeepAlive != resp.KeepAlive {
			t.Fatalf("AppendHead round trip differs:\n%q %+v\n%q %+v", head, resp, resp2.AppendHead(nil), resp2)
		}
		out.Write(head)
		if resp.Status == 101 {
			// The tunnel carries the detached bytes, then the rest.
			rest, err := io.ReadAll(src)
			if err != nil {
				t.Fatal(err)
			}
			out.WriteString("tunnel " + string(rd.Detach()) + string(rest))
			return out.String()
		}
		body, class := h1ReadBody(t, rd, resp.Framing, resp.ContentLength, inLen)
		out.WriteString("body " + string(body) + " " + class + "\n")
		if class != "ok" || resp.Framing == http1.UntilClose {
			return out.String()
		}
	}
	return out.String()
}

// h1ChunkedSeeds are FuzzHTTP1Chunked's seeds: chunked bodies as they follow
// a head.
func h1ChunkedSeeds() map[string][]byte {
	return map[string][]byte{
		"simple":         []byte("5\r\nhello\r\n0\r\n\r\n"),
		"many":           []byte("1\r\na\r\n2\r\nbc\r\n0A\r\n0123456789\r\n0\r\n\r\nnext"),
		"extensions":     []byte("5 ; a = b ;c=\"q\\\"\" \t;d\r\nhello\r\n0;e=f\r\n\r\n"),
		"trailers":       []byte("3\r\nabc\r\n0\r\nDigest: sha-256=x\r\nX-T:  v \r\n\r\n"),
		"upper-hex":      []byte("1F\r\n0123456789012345678901234567890\r\n0\r\n\r\n"),
		"no-crlf":        []byte("5\r\nhelloX\r\n0\r\n\r\n"),
		"bare-lf":        []byte("5\nhello\n0\n\n"),
		"overflow":       []byte("ffffffffffffffffff\r\n"),
		"ext-too-long":   []byte("1;" + strings.Repeat("a", 100) + "\r\nx\r\n0\r\n\r\n"),
		"trailer-fold":   []byte("0\r\nA: b\r\n c\r\n\r\n"),
		"trailer-large":  []byte("0\r\n" + strings.Repeat("X: 0123456789abcdef\r\n", 40) + "\r\n"),
		"truncated":      []byte("a\r\nabc"),
		"no-last-chunk":  []byte("3\r\nabc\r\n"),
		"empty":          {},
		"bad-ext-quote":  []byte("1;a=\"x\r\nx\r\n0\r\n\r\n"),
		"negative-size":  []byte("-1\r\nx\r\n0\r\n\r\n"),
		"leading-space":  []byte(" 1\r\nx\r\n0\r\n\r\n"),
		"trailing-space": []byte("1 \r\nx\r\n0\r\n\r\n"),
	}
}

// FuzzHTTP1Chunked decodes arbitrary bytes as a chunked body with Next over
// whole input and with Read over one byte per read: the two must agree; an
// accepted body re-encoded with AppendChunk and AppendLastChunk must decode
// to the same data and trailers, and the bytes after the body must be left
// buffered.
func FuzzHTTP1Chunked(f *testing.F) {
	for _, seed := range h1ChunkedSeeds() {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		rd := http1.NewReader(bytes.NewReader(in), h1Limits)
		b := rd.Body(http1.Chunked, -1)
		var data []byte
		var err error
		for {
			var p []byte
			p, err = b.Next()
			if err != nil {
				break
			}
			if len(p) == 0 {
				t.Fatal("Next returned no data and no error")
			}
			data = append(data, p...)
		}
		class := "ok"
		if err != io.EOF {
			class = h1ErrorClass(t, err)
		}
		var trailers []byte
		if class == "ok" {
			trailers = b.Trailers().AppendTo(nil)
		}

		rd2 := http1.NewReader(iotest.OneByteReader(bytes.NewReader(in)), h1Limits)
		body2, class2 := h1ReadBody(t, rd2, http1.Chunked, -1, len(in))
		if class2 != class || class == "ok" && string(body2) != string(data)+string(trailers) ||
			class != "ok" && !bytes.HasPrefix(data, body2) && !bytes.HasPrefix(body2, data) {
			t.Fatalf("Next: %q %s; Read byte by byte: %q %s", data, class, body2, class2)
		}
		if class != "ok" {
			return
		}
		if int64(len(data)) != b.Bytes() || !b.Done() {
			t.Fatalf("Bytes %d Done %v for %d bytes", b.Bytes(), b.Done(), len(data))
		}
		// The bytes after the body stay buffered, for the next message.
		consumed := len(in) - rd.Buffered()
		rest := rd.Detach()
		if !bytes.Equal(rest, in[consumed:]) {
			t.Fatalf("left %q, want %q", rest, in[consumed:])
		}
		var tr http1.Header
		tr.CopyFrom(b.Trailers())
		wire := http1.AppendLastChunk(http1.AppendChunk(nil, data), &tr)
		rd3 := http1.NewReader(bytes.NewReader(wire), h1Limits)
		b3 := rd3.Body(http1.Chunked, -1)
		again, err := io.ReadAll(b3)
		if err != nil || !bytes.Equal(again, data) || string(b3.Trailers().AppendTo(nil)) != string(trailers) {
			t.Fatalf("re-encoded %q decodes to %q %v, trailers %q", wire, again, err, b3.Trailers().AppendTo(nil))
		}
	})
}

// TestHTTP1Corpus checks that every seed of the three http1 targets is also
// a corpus file with the same bytes (SLUICE_UPDATE_CORPUS=1 writes them).
func TestHTTP1Corpus(t *testing.T) {
	checkCorpus(t, "FuzzHTTP1Request", h1RequestSeeds())
	checkCorpus(t, "FuzzHTTP1Response", h1ResponseSeeds())
	checkCorpus(t, "FuzzHTTP1Chunked", h1ChunkedSeeds())
}
