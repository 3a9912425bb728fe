package http1

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

// splitReader returns its data in two reads, split at n.
type splitReader struct {
	data []byte
	n    int
}

func (s *splitReader) Read(p []byte) (int, error) {
	if len(s.data) == 0 {
		return 0, io.EOF
	}
	k := len(s.data)
	if s.n > 0 {
		k = min(k, s.n)
	}
	k = copy(p, s.data[:k])
	s.data = s.data[k:]
	s.n -= k
	return k, nil
}

// chunkedMsg is a chunked POST with extensions, an empty-value quoted
// extension and trailers, followed by a pipelined GET.
const chunkedMsg = "POST /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n" +
	"5;name=value\r\nhello\r\n" +
	"1 ; a ; b = \"q\\\"d\" ;c=\"\"\r\n,\r\n" +
	"00A\r\n world! 12\r\n" +
	"0;last\r\nChecksum: abc\r\nX-Trailer:  two \r\n\r\n" +
	"GET /next HTTP/1.1\r\nHost: a\r\n\r\n"

// readChunkedMsg reads chunkedMsg from src: the POST head, its body by Read
// with a buffer of size bufSize or by Next when bufSize is 0, and the next
// head.
func readChunkedMsg(t *testing.T, src io.Reader, bufSize int) {
	t.Helper()
	rd := NewReader(src, Limits{})
	var req Request
	if err := rd.ReadRequest(&req); err != nil {
		t.Fatal(err)
	}
	if req.Framing != Chunked {
		t.Fatalf("framing %v", req.Framing)
	}
	b := rd.Body(req.Framing, req.ContentLength)
	var got []byte
	for {
		var err error
		if bufSize == 0 {
			var p []byte
			p, err = b.Next()
			got = append(got, p...)
		} else {
			p := make([]byte, bufSize)
			var n int
			n, err = b.Read(p)
			got = append(got, p[:n]...)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("after %q: %v", got, err)
		}
	}
	if string(got) != "hello, world! 12" {
		t.Fatalf("body %q", got)
	}
	if !b.Done() || b.Bytes() != int64(len(got)) {
		t.Fatalf("Done %v Bytes %d", b.Done(), b.Bytes())
	}
	tr := b.Trailers()
	if tr.Len() != 2 || string(tr.Get("checksum")) != "abc" || string(tr.Get("X-Trailer")) != "two" {
		t.Fatalf("trailers %q", tr.AppendTo(nil))
	}
	if err := rd.ReadRequest(&req); err != nil || string(req.Target) != "/next" {
		t.Fatalf("next request: %q %v", req.Target, err)
	}
	if err := rd.ReadRequest(&req); err != io.EOF {
		t.Fatalf("end: %v", err)
	}
}

// TestChunkedBody decodes a chunked body with extensions and trailers, read
// whole, one byte per source read, and split in two at every byte position,
// by Read with small and large buffers and by Next.
func TestChunkedBody(t *testing.T) {
	for _, bufSize := range []int{0, 1, 3, 64 << 10} {
		t.Run("whole", func(t *testing.T) { readChunkedMsg(t, strings.NewReader(chunkedMsg), bufSize) })
		t.Run("one byte", func(t *testing.T) {
			readChunkedMsg(t, iotest.OneByteReader(strings.NewReader(chunkedMsg)), bufSize)
		})
		t.Run("data err", func(t *testing.T) {
			readChunkedMsg(t, iotest.DataErrReader(strings.NewReader(chunkedMsg)), bufSize)
		})
		for i := 1; i < len(chunkedMsg); i++ {
			readChunkedMsg(t, &splitReader{data: []byte(chunkedMsg), n: i}, bufSize)
		}
	}
}

// TestChunkedRejects checks faults in chunked framing, each with its error.
func TestChunkedRejects(t *testing.T) {
	tests := []struct {
		name string
		body string
		want error
	}{
		{"no size", "\r\n", ErrBadChunk},
		{"not hex", "g\r\nx\r\n0\r\n\r\n", ErrBadChunk},
		{"negative", "-1\r\n", ErrBadChunk},
		{"0x prefix", "0x5\r\nhello\r\n0\r\n\r\n", ErrBadChunk},
		{"space after size", "5 \r\nhello\r\n0\r\n\r\n", ErrBadChunk},
		{"space before size", " 5\r\nhello\r\n0\r\n\r\n", ErrBadChunk},
		{"too many digits", "1000000000000000\r\n", ErrBadChunk},
		{"overflow", "ffffffffffffffffffff\r\n", ErrBadChunk},
		{"bare lf size", "5\nhello\r\n0\r\n\r\n", ErrBadChunk},
		{"bare cr size", "5\r;a\r\nhello\r\n0\r\n\r\n", ErrBadChunk},
		{"data too long", "5\r\nhello!\r\n0\r\n\r\n", ErrBadChunk},
		{"data lf only", "5\r\nhello\n0\r\n\r\n", ErrBadChunk},
		{"ext no semicolon", "5 a\r\nhello\r\n0\r\n\r\n", ErrBadChunk},
		{"ext empty name", "5;\r\nhello\r\n0\r\n\r\n", ErrBadChunk},
		{"ext bad name", "5;a@b\r\nhello\r\n0\r\n\r\n", ErrBadChunk},
		{"ext empty value", "5;a=\r\nhello\r\n0\r\n\r\n", ErrBadChunk},
		{"ext unterminated quote", "5;a=\"x\r\nhello\r\n0\r\n\r\n", ErrBadChunk},
		{"ext ctl in quote", "5;a=\"\x01\"\r\nhello\r\n0\r\n\r\n", ErrBadChunk},
		{"ext nul", "5;a=b\x00\r\nhello\r\n0\r\n\r\n", ErrBadChunk},
		{"ext trailing space", "5;a \r\nhello\r\n0\r\n\r\n", ErrBadChunk},
		{"ext too long", "5;a=" + strings.Repeat("b", 100) + "\r\nhello\r\n0\r\n\r\n", ErrChunkExtTooLong},
		{"size line way too long", "5;a=" + strings.Repeat("b", 1000), ErrChunkExtTooLong},
		{"trailer obs-fold", "0\r\nA: b\r\n c\r\n\r\n", ErrObsFold},
		{"trailer bad field", "0\r\nA b\r\n\r\n", ErrBadField},
		{"trailer bare lf", "0\r\nA: b\n\r\n", ErrBadField},
		{"trailer too large", "0\r\n" + strings.Repeat("A: 0123456789\r\n", 10) + "\r\n", ErrTrailerTooLarge},
		{"trailer too many", "0\r\n" + strings.Repeat("A: 1\r\n", 9) + "\r\n", ErrTrailerTooLarge},
		{"trailer line too long", "0\r\nA: " + strings.Repeat("b", 100) + "\r\n\r\n", ErrTrailerTooLarge},
		{"eof in size", "5", io.ErrUnexpectedEOF},
		{"eof in data", "5\r\nhel", io.ErrUnexpectedEOF},
		{"eof before data crlf", "5\r\nhello", io.ErrUnexpectedEOF},
		{"eof after data cr", "5\r\nhello\r", io.ErrUnexpectedEOF},
		{"eof before last chunk", "5\r\nhello\r\n", io.ErrUnexpectedEOF},
		{"eof in trailers", "0\r\n", io.ErrUnexpectedEOF},
		{"eof in trailer", "0\r\nA: b\r\n", io.ErrUnexpectedEOF},
	}
	lim := Limits{MaxChunkExtBytes: 64, MaxTrailerBytes: 100, MaxHeaders: 8, MaxLineBytes: 64}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, one := range []bool{false, true} {
				var src io.Reader = strings.NewReader(tt.body)
				if one {
					src = iotest.OneByteReader(src)
				}
				b := NewReader(src, lim).Body(Chunked, -1)
				_, err := io.Copy(io.Discard, b)
				if !errors.Is(err, tt.want) {
					t.Fatalf("body %q (one byte %v): %v, want %v", tt.body, one, err, tt.want)
				}
				if _, again := b.Read(make([]byte, 8)); again != err {
					t.Fatalf("error not sticky: %v then %v", err, again)
				}
				if b.Done() {
					t.Fatal("Done after a fault")
				}
			}
		})
	}
}

// TestLengthBody checks Content-Length bodies: exact, truncated, followed by
// pipelined bytes, zero, and read straight into a large buffer.
func TestLengthBody(t *testing.T) {
	rd := NewReader(strings.NewReader("helloNEXT"), Limits{})
	b := rd.Body(Length, 5)
	got, err := io.ReadAll(b)
	if err != nil || string(got) != "hello" || !b.Done() || b.Bytes() != 5 {
		t.Fatalf("body %q %v done %v bytes %d", got, err, b.Done(), b.Bytes())
	}
	if rd.Buffered() != 4 {
		t.Fatalf("Buffered = %d, want 4", rd.Buffered())
	}

	b = NewReader(strings.NewReader("hel"), Limits{}).Body(Length, 5)
	if _, err := io.ReadAll(b); err != io.ErrUnexpectedEOF {
		t.Fatalf("truncated: %v", err)
	}

	b = NewReader(strings.NewReader("x"), Limits{}).Body(Length, 0)
	if p, err := b.Next(); p != nil || err != io.EOF || !b.Done() {
		t.Fatalf("zero length: %q %v", p, err)
	}

	big := bytes.Repeat([]byte("0123456789"), 10000)
	src := &countingReader{r: bytes.NewReader(append(big, "tail"...))}
	rd = NewReader(src, Limits{})
	b = rd.Body(Length, int64(len(big)))
	p := make([]byte, 64<<10)
	var out []byte
	for {
		n, err := b.Read(p)
		out = append(out, p[:n]...)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(out, big) {
		t.Fatalf("large body differs (%d bytes)", len(out))
	}
	if src.maxRead < 32<<10 {
		t.Errorf("largest source read %d: large reads did not bypass the buffer", src.maxRead)
	}
	if rest := rd.Detach(); rest != nil {
		t.Errorf("buffered after a body read straight into p: %q", rest)
	}
	tail, _ := io.ReadAll(src)
	if string(tail) != "tail" {
		t.Errorf("bytes past the body were read: left %q", tail)
	}
}

// countingReader records the largest read it served.
type countingReader struct {
	r       io.Reader
	maxRead int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.maxRead = max(c.maxRead, n)
	return n, err
}

// TestUntilCloseAndNoBody checks close-delimited and absent bodies.
func TestUntilCloseAndNoBody(t *testing.T) {
	for _, one := range []bool{false, true} {
		var src io.Reader = strings.NewReader("all of it")
		if one {
			src = iotest.OneByteReader(src)
		}
		b := NewReader(src, Limits{}).Body(UntilClose, -1)
		got, err := io.ReadAll(b)
		if err != nil || string(got) != "all of it" || !b.Done() {
			t.Fatalf("until close: %q %v done %v", got, err, b.Done())
		}
	}
	b := NewReader(strings.NewReader("junk"), Limits{}).Body(NoBody, -1)
	if n, err := b.Read(make([]byte, 4)); n != 0 || err != io.EOF || !b.Done() {
		t.Fatalf("no body: %d %v", n, err)
	}
	b = NewReader(strings.NewReader("junk"), Limits{}).Body(Length, -1)
	if _, err := b.Read(make([]byte, 4)); !errors.Is(err, ErrBadContentLength) {
		t.Fatalf("negative length: %v", err)
	}
}

// TestBodyReadError checks a source error mid-body is returned and does not
// stick, so a read after it (a deadline extended) goes on.
func TestBodyReadError(t *testing.T) {
	boom := errors.New("boom")
	src := &scriptReader{steps: []step{{"3\r\nab", nil}, {"", boom}, {"c\r\n0\r\n\r\n", nil}}}
	b := NewReader(src, Limits{}).Body(Chunked, -1)
	var got []byte
	var sawBoom bool
	for {
		p, err := b.Next()
		got = append(got, p...)
		if errors.Is(err, boom) {
			sawBoom = true
			continue
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if !sawBoom || string(got) != "abc" {
		t.Fatalf("got %q, boom seen %v", got, sawBoom)
	}
}

// step is one read of a scriptReader.
type step struct {
	data string
	err  error
}

// scriptReader serves its steps, one per read, then io.EOF.
type scriptReader struct{ steps []step }

func (s *scriptReader) Read(p []byte) (int, error) {
	if len(s.steps) == 0 {
		return 0, io.EOF
	}
	st := &s.steps[0]
	n := copy(p, st.data)
	st.data = st.data[n:]
	if st.data == "" {
		s.steps = s.steps[1:]
		return n, st.err
	}
	return n, nil
}

// TestAppendChunk checks the chunk writers against the decoder.
func TestAppendChunk(t *testing.T) {
	var tr Header
	tr.Add("Digest", "sha-256=x")
	var wire []byte
	wire = AppendChunk(wire, []byte("hello"))
	wire = AppendChunk(wire, nil)
	wire = AppendChunk(wire, bytes.Repeat([]byte("z"), 300))
	wire = AppendLastChunk(wire, &tr)
	want := "5\r\nhello\r\n12c\r\n" + strings.Repeat("z", 300) + "\r\n0\r\nDigest: sha-256=x\r\n\r\n"
	if string(wire) != want {
		t.Fatalf("wire %q", wire)
	}
	if got := string(AppendLastChunk(nil, nil)); got != "0\r\n\r\n" {
		t.Fatalf("last chunk %q", got)
	}
	b := NewReader(bytes.NewReader(wire), Limits{}).Body(Chunked, -1)
	body, err := io.ReadAll(b)
	if err != nil || string(body) != "hello"+strings.Repeat("z", 300) || string(b.Trailers().Get("digest")) != "sha-256=x" {
		t.Fatalf("decoded %q %v", body, err)
	}
}

// Ready is true only when payload can be returned without a read: after a
// chunk's data, the CRLF and the next size line buffered whole are
// consumed to reach payload; a partial size line or no payload is false.
func TestBodyReaderReady(t *testing.T) {
	pr, pw := io.Pipe()
	rd := NewReader(pr, Limits{})
	go pw.Write([]byte("3\r\nabc\r\n2\r\nde\r\n1"))
	br := rd.Body(Chunked, -1)
	p, err := br.Next()
	if err != nil || string(p) != "abc" {
		t.Fatalf("first chunk %q, %v", p, err)
	}
	if !br.Ready() {
		t.Fatal("Ready false with the next chunk buffered")
	}
	if p, err = br.Next(); err != nil || string(p) != "de" {
		t.Fatalf("second chunk %q, %v", p, err)
	}
	if br.Ready() {
		t.Fatal("Ready true with only a partial size line buffered")
	}
	go pw.Write([]byte("\r\nf\r\n0\r\n\r\n"))
	if p, err = br.Next(); err != nil || string(p) != "f" {
		t.Fatalf("third chunk %q, %v", p, err)
	}
	if br.Ready() {
		t.Fatal("Ready true at the last chunk: no payload is left")
	}
	if _, err = br.Next(); err != io.EOF {
		t.Fatalf("end: %v", err)
	}
}
