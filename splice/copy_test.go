//go:build linux

package splice

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

// relayThrough sends data from a writer socket through Copy(dst, src) to a
// reader socket: writer → src ⇒ Copy ⇒ dst → reader. wrapSrc and wrapDst,
// when not nil, wrap Copy's ends. head, when not empty, is sent and
// pre-read into the bufConn src wrapper before the rest.
type relaySetup struct {
	srcKind, dstKind connKind
	wrapSrc          func(net.Conn) io.Reader
	wrapDst          func(net.Conn) io.Writer
}

// relayThrough runs one Copy of data and returns the bytes the reader got
// and Copy's results.
func relayThrough(t *testing.T, p *Pool, s relaySetup, data []byte) ([]byte, int64, error) {
	t.Helper()
	w, src := pair(t, s.srcKind)
	dst, rd := pair(t, s.dstKind)
	var from io.Reader = src
	if s.wrapSrc != nil {
		from = s.wrapSrc(src)
	}
	var to io.Writer = dst
	if s.wrapDst != nil {
		to = s.wrapDst(dst)
	}
	werr := make(chan error, 1)
	go func() {
		_, err := w.Write(data)
		if err == nil {
			err = w.CloseWrite()
		}
		werr <- err
	}()
	type result struct {
		n   int64
		err error
	}
	done := make(chan result, 1)
	go func() {
		n, err := p.Copy(to, from)
		dst.CloseWrite()
		done <- result{n, err}
	}()
	got, err := io.ReadAll(rd)
	if err != nil {
		t.Fatalf("reader: %v", err)
	}
	if err := <-werr; err != nil {
		t.Fatalf("writer: %v", err)
	}
	res := <-done
	return got, res.n, res.err
}

var kindPairs = []struct{ src, dst connKind }{
	{tcpKind, tcpKind}, {tcpKind, unixKind}, {unixKind, unixKind}, {unixKind, tcpKind},
	{fdpollKind, fdpollKind}, {tcpKind, fdpollKind}, {fdpollKind, unixKind},
}

func TestCopySockets(t *testing.T) {
	for i, kp := range kindPairs {
		for _, mode := range []Mode{Auto, Always, Never} {
			t.Run(fmt.Sprintf("%s-%s/%s", kp.src, kp.dst, mode), func(t *testing.T) {
				seed := uint64(i*10 + int(mode))
				size := 1<<20 + int(payload(seed, 4)[0])<<12*3 // 1 MiB to 4 MiB
				data := payload(seed, size)
				p := NewPool(PoolConfig{Mode: mode})
				got, n, err := relayThrough(t, p, relaySetup{srcKind: kp.src, dstKind: kp.dst}, data)
				if err != nil {
					t.Fatalf("Copy: %v", err)
				}
				if n != int64(len(data)) || !bytes.Equal(got, data) {
					t.Fatalf("Copy moved %d bytes, reader got %d, want %d (equal %v)", n, len(got), len(data), bytes.Equal(got, data))
				}
				st := p.Stats()
				if st.SplicedBytes+st.CopiedBytes != n {
					t.Errorf("spliced %d + copied %d != %d", st.SplicedBytes, st.CopiedBytes, n)
				}
				switch mode {
				case Always:
					if st.SplicedBytes != n {
						t.Errorf("Always: spliced %d of %d bytes", st.SplicedBytes, n)
					}
				case Auto:
					if st.SplicedBytes == 0 {
						t.Errorf("Auto: a %d-byte bulk transfer never spliced", n)
					}
				case Never:
					if st.SplicedBytes != 0 {
						t.Errorf("Never: spliced %d bytes", st.SplicedBytes)
					}
				}
				if st.PipesInUse != 0 || st.BuffersInUse != 0 {
					t.Errorf("after Copy: %+v", st)
				}
			})
		}
	}
}

func TestCopyNonStreamUnixIsNotSpliced(t *testing.T) {
	w, src := unixPair(t, syscall.SOCK_SEQPACKET)
	dst, rd := unixPair(t, syscall.SOCK_SEQPACKET)
	p := NewPool(PoolConfig{Mode: Always})
	msg := []byte("one datagram")
	if _, err := w.Write(msg); err != nil {
		t.Fatal(err)
	}
	w.CloseWrite()
	n, err := p.Copy(dst, src)
	if err != nil || n != int64(len(msg)) {
		t.Fatalf("Copy = %d, %v", n, err)
	}
	got := make([]byte, 100)
	m, err := rd.Read(got)
	if err != nil || string(got[:m]) != string(msg) {
		t.Fatalf("read %q, %v", got[:m], err)
	}
	if st := p.Stats(); st.SplicedBytes != 0 {
		t.Errorf("seqpacket socket spliced: %+v", st)
	}
}

func TestCopyUnwrapsSource(t *testing.T) {
	for _, kind := range []connKind{tcpKind, unixKind} {
		t.Run(string(kind), func(t *testing.T) {
			head := payload(1, 1000)
			rest := payload(2, 1<<20)
			w, src := pair(t, kind)
			dst, rd := pair(t, kind)
			wrapper := newBufConn(src)
			if _, err := w.Write(head); err != nil {
				t.Fatal(err)
			}
			// Pre-read the head into the wrapper's buffer, as a PROXY
			// header parser would.
			if _, err := wrapper.br.Peek(len(head)); err != nil {
				t.Fatal(err)
			}
			if wrapper.Buffered() != len(head) {
				t.Fatalf("buffered %d, want %d", wrapper.Buffered(), len(head))
			}
			go func() {
				w.Write(rest)
				w.CloseWrite()
			}()
			p := NewPool(PoolConfig{Mode: Always})
			done := make(chan error, 1)
			go func() {
				_, err := p.Copy(dst, wrapper)
				dst.CloseWrite()
				done <- err
			}()
			got, err := io.ReadAll(rd)
			if err != nil {
				t.Fatal(err)
			}
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			if want := append(head, rest...); !bytes.Equal(got, want) {
				t.Fatalf("got %d bytes, want %d in order", len(got), len(want))
			}
			if r := wrapper.read.Load(); r != int64(len(head)) {
				t.Errorf("%d bytes went through the wrapper's Read, want only the %d buffered", r, len(head))
			}
			if st := p.Stats(); st.SplicedBytes != int64(len(rest)) {
				t.Errorf("spliced %d bytes, want %d", st.SplicedBytes, len(rest))
			}
		})
	}
}

// plainConn hides a conn's concrete type but unwraps to it without buffering,
// like vstream.Conn.
type plainConn struct{ net.Conn }

func (c plainConn) Unwrap() net.Conn { return c.Conn }
func (c plainConn) Buffered() int    { return 0 }

// netConnOnly is a transforming wrapper with NetConn, like *tls.Conn: it
// must never be unwrapped. It flips every byte it reads.
type netConnOnly struct{ net.Conn }

func (c netConnOnly) NetConn() net.Conn { return c.Conn }
func (c netConnOnly) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	for i := range p[:n] {
		p[i] ^= 0xff
	}
	return n, err
}

// unwrapOnly has Unwrap but not Buffered: not an Unwrapper, so it is read
// through. It flips every byte too.
type unwrapOnly struct{ netConnOnly }

func (c unwrapOnly) Unwrap() net.Conn { return c.Conn }

func TestCopyWrappers(t *testing.T) {
	flipped := func(b []byte) []byte {
		out := bytes.Clone(b)
		for i := range out {
			out[i] ^= 0xff
		}
		return out
	}
	tests := []struct {
		name    string
		setup   relaySetup
		want    func([]byte) []byte
		spliced bool
	}{
		{"dst unwrapper", relaySetup{wrapDst: func(c net.Conn) io.Writer { return newBufConn(c) }}, bytes.Clone, true},
		{"nested unwrappers", relaySetup{
			wrapSrc: func(c net.Conn) io.Reader { return newBufConn(plainConn{plainConn{c}}) },
			wrapDst: func(c net.Conn) io.Writer { return plainConn{newBufConn(c)} },
		}, bytes.Clone, true},
		{"NetConn is not unwrapped", relaySetup{wrapSrc: func(c net.Conn) io.Reader { return netConnOnly{c} }}, flipped, false},
		{"Unwrap without Buffered is not unwrapped", relaySetup{wrapSrc: func(c net.Conn) io.Reader { return unwrapOnly{netConnOnly{c}} }}, flipped, false},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.setup.srcKind, tt.setup.dstKind = tcpKind, unixKind
			data := payload(uint64(100+i), 256<<10)
			p := NewPool(PoolConfig{Mode: Always})
			got, n, err := relayThrough(t, p, tt.setup, data)
			if err != nil {
				t.Fatal(err)
			}
			if want := tt.want(data); n != int64(len(want)) || !bytes.Equal(got, want) {
				t.Fatalf("moved %d, got %d bytes, want %d (equal %v)", n, len(got), len(want), bytes.Equal(got, want))
			}
			if st := p.Stats(); (st.SplicedBytes == n) != tt.spliced {
				t.Errorf("spliced %d of %d bytes, want spliced=%v", st.SplicedBytes, n, tt.spliced)
			}
		})
	}
}

// onlyReader and onlyWriter hide WriterTo and ReaderFrom.
type onlyReader struct{ io.Reader }
type onlyWriter struct{ io.Writer }

func TestCopyNonSockets(t *testing.T) {
	data := payload(7, 300<<10)
	tests := []struct {
		name string
		run  func(t *testing.T, p *Pool) ([]byte, int64, error)
	}{
		{"strings.Reader to bytes.Buffer", func(t *testing.T, p *Pool) ([]byte, int64, error) {
			var out bytes.Buffer
			n, err := p.Copy(&out, strings.NewReader(string(data)))
			return out.Bytes(), n, err
		}},
		{"plain reader to plain writer", func(t *testing.T, p *Pool) ([]byte, int64, error) {
			var out bytes.Buffer
			n, err := p.Copy(onlyWriter{&out}, onlyReader{bytes.NewReader(data)})
			return out.Bytes(), n, err
		}},
		{"net.Pipe to bytes.Buffer", func(t *testing.T, p *Pool) ([]byte, int64, error) {
			c1, c2 := net.Pipe()
			defer c2.Close()
			go func() {
				c1.Write(data)
				c1.Close()
			}()
			var out bytes.Buffer
			n, err := p.Copy(onlyWriter{&out}, c2)
			return out.Bytes(), n, err
		}},
		{"TCP socket to plain writer", func(t *testing.T, p *Pool) ([]byte, int64, error) {
			w, src := tcpPair(t)
			go func() {
				w.Write(data)
				w.CloseWrite()
			}()
			var out bytes.Buffer
			n, err := p.Copy(onlyWriter{&out}, src)
			return out.Bytes(), n, err
		}},
		{"plain reader to Unix socket", func(t *testing.T, p *Pool) ([]byte, int64, error) {
			dst, rd := unixPair(t, syscall.SOCK_STREAM)
			got := make(chan []byte, 1)
			go func() {
				b, _ := io.ReadAll(rd)
				got <- b
			}()
			n, err := p.Copy(dst, onlyReader{bytes.NewReader(data)})
			dst.CloseWrite()
			return <-got, n, err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := NewPool(PoolConfig{Mode: Always})
			got, n, err := tt.run(t, p)
			if err != nil {
				t.Fatal(err)
			}
			if n != int64(len(data)) || !bytes.Equal(got, data) {
				t.Fatalf("moved %d, got %d bytes, want %d", n, len(got), len(data))
			}
			if st := p.Stats(); st.SplicedBytes != 0 || st.BuffersInUse != 0 || st.PipesInUse != 0 {
				t.Errorf("stats %+v", st)
			}
		})
	}
}

// badWriter returns a count it was not given.
type badWriter struct{ n int }

func (w badWriter) Write(p []byte) (int, error) { return w.n, nil }

// badReader returns more bytes than asked.
type badReader struct{}

func (badReader) Read(p []byte) (int, error) { return len(p) + 1, nil }

// stuckWrapper claims buffered bytes it never returns.
type stuckWrapper struct{ net.Conn }

func (stuckWrapper) Read([]byte) (int, error) { return 0, nil }
func (stuckWrapper) Buffered() int            { return 10 }
func (c stuckWrapper) Unwrap() net.Conn       { return c.Conn }

// selfWrapper unwraps to itself.
type selfWrapper struct {
	net.Conn
	self net.Conn
}

func (c *selfWrapper) Unwrap() net.Conn { return c.self }
func (c *selfWrapper) Buffered() int    { return 0 }

func TestCopyBadPeers(t *testing.T) {
	tests := []struct {
		name string
		run  func(t *testing.T) error
		want error
	}{
		{"writer claims more", func(t *testing.T) error {
			_, err := NewPool(PoolConfig{}).Copy(onlyWriter{badWriter{n: 1 << 30}}, onlyReader{strings.NewReader("x")})
			return err
		}, errInvalidWrite},
		{"writer claims negative", func(t *testing.T) error {
			_, err := NewPool(PoolConfig{}).Copy(onlyWriter{badWriter{n: -1}}, onlyReader{strings.NewReader("x")})
			return err
		}, errInvalidWrite},
		{"short write", func(t *testing.T) error {
			_, err := NewPool(PoolConfig{}).Copy(onlyWriter{badWriter{n: 1}}, onlyReader{strings.NewReader("xyz")})
			return err
		}, io.ErrShortWrite},
		{"reader claims more", func(t *testing.T) error {
			_, err := NewPool(PoolConfig{}).Copy(onlyWriter{io.Discard}, badReader{})
			return err
		}, errInvalidRead},
		{"wrapper never drains", func(t *testing.T) error {
			_, c := tcpPair(t)
			_, err := NewPool(PoolConfig{}).Copy(io.Discard, stuckWrapper{c})
			return err
		}, io.ErrNoProgress},
		{"wrapper unwraps to itself", func(t *testing.T) error {
			w, c := tcpPair(t)
			sw := &selfWrapper{Conn: c}
			sw.self = sw
			w.Close()
			_, err := NewPool(PoolConfig{}).Copy(io.Discard, sw)
			return err
		}, nil},
		{"nil reader", func(t *testing.T) error {
			_, err := NewPool(PoolConfig{}).Copy(io.Discard, nil)
			if err == nil {
				return errors.New("no error")
			}
			return nil
		}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.run(t); !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestCopyHonoursDeadline(t *testing.T) {
	for _, mode := range []Mode{Auto, Always} {
		t.Run(mode.String(), func(t *testing.T) {
			_, src := tcpPair(t)
			dst, _ := tcpPair(t)
			src.SetReadDeadline(time.Now().Add(-time.Second))
			_, err := NewPool(PoolConfig{Mode: mode}).Copy(dst, src)
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("err = %v, want a deadline error", err)
			}
		})
	}
}

func TestCopyReadError(t *testing.T) {
	for _, mode := range []Mode{Auto, Always} {
		t.Run(mode.String(), func(t *testing.T) {
			w, src := tcpPair(t)
			dst, _ := tcpPair(t)
			w.SetLinger(0)
			w.Close() // RST
			_, err := NewPool(PoolConfig{Mode: mode}).Copy(dst, src)
			if !errors.Is(err, syscall.ECONNRESET) {
				t.Fatalf("err = %v, want ECONNRESET", err)
			}
			var op *net.OpError
			if !errors.As(err, &op) || op.Op != "read" {
				t.Errorf("err = %#v, want a read *net.OpError", err)
			}
		})
	}
}

// TestCopyAllocations checks that moving a chunk allocates nothing: a
// multi-megabyte Copy of thousands of chunks allocates a bounded handful.
func TestCopyAllocations(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	for _, mode := range []Mode{Never, Always} {
		t.Run(mode.String(), func(t *testing.T) {
			p := NewPool(PoolConfig{Mode: mode, BufferSize: 4096, PipeSize: 64 << 10})
			w, src := tcpPair(t)
			dst, rd := tcpPair(t)
			const chunk, chunks = 4096, 2048
			msg := payload(3, chunk)
			// Warm up the pools so they do not count.
			go func() {
				for range chunks {
					if _, err := w.Write(msg); err != nil {
						break
					}
				}
				w.CloseWrite()
			}()
			drained := make(chan int64, 1)
			go func() {
				n, _ := io.Copy(io.Discard, onlyReader{rd})
				drained <- n
			}()
			runtime.GC()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			n, err := p.Copy(dst, src)
			runtime.ReadMemStats(&after)
			dst.CloseWrite()
			if err != nil || n != chunk*chunks {
				t.Fatalf("Copy = %d, %v", n, err)
			}
			if got := <-drained; got != n {
				t.Fatalf("drained %d of %d", got, n)
			}
			allocs := after.Mallocs - before.Mallocs
			t.Logf("%d allocations for %d bytes", allocs, n)
			if allocs > 64 {
				t.Errorf("%d allocations copying %d chunks: something allocates per chunk", allocs, chunks)
			}
		})
	}
}

// TestCopyWithoutPipes falls back to buffers when no pipe can be created
// (as when the process is out of file descriptors).
func TestCopyWithoutPipes(t *testing.T) {
	p := NewPool(PoolConfig{Mode: Always})
	p.newPipe = func(int) (*pipe, error) { return nil, syscall.EMFILE }
	data := payload(21, 1<<20)
	got, n, err := relayThrough(t, p, relaySetup{srcKind: tcpKind, dstKind: tcpKind}, data)
	if err != nil {
		t.Fatal(err)
	}
	if n != int64(len(data)) || !bytes.Equal(got, data) {
		t.Fatalf("moved %d, got %d bytes, want %d", n, len(got), len(data))
	}
	if st := p.Stats(); st.SplicedBytes != 0 || st.CopiedBytes != n || st.PipesInUse != 0 {
		t.Errorf("stats %+v", st)
	}
}
