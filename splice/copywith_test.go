package splice

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"
)

// TestCopyWithLimit copies a prefix of a longer stream, in every mode and
// socket pairing: exactly Limit bytes arrive, and the rest is still in src
// for the next reader.
func TestCopyWithLimit(t *testing.T) {
	for i, kp := range kindPairs {
		for _, mode := range []Mode{Auto, Always, Never} {
			t.Run(fmt.Sprintf("%s-%s/%s", kp.src, kp.dst, mode), func(t *testing.T) {
				data := payload(uint64(100+i*10+int(mode)), 3<<20)
				limit := int64(1<<20 + 12345)
				w, src := pair(t, kp.src)
				dst, rd := pair(t, kp.dst)
				go func() {
					w.Write(data)
					w.CloseWrite()
				}()
				p := NewPool(PoolConfig{Mode: mode})
				type result struct {
					n   int64
					err error
				}
				done := make(chan result, 1)
				go func() {
					n, err := p.CopyWith(dst, src, CopyOptions{Limit: limit})
					dst.CloseWrite()
					done <- result{n, err}
				}()
				got, err := io.ReadAll(rd)
				if err != nil {
					t.Fatal(err)
				}
				res := <-done
				if res.err != nil || res.n != limit {
					t.Fatalf("CopyWith = %d, %v; want %d, nil", res.n, res.err, limit)
				}
				if !bytes.Equal(got, data[:limit]) {
					t.Fatalf("got %d bytes, want the first %d in order", len(got), limit)
				}
				rest, err := io.ReadAll(src)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(rest, data[limit:]) {
					t.Fatalf("left %d bytes in src, want the last %d", len(rest), int64(len(data))-limit)
				}
				if st := p.Stats(); st.PipesInUse != 0 || st.BuffersInUse != 0 {
					t.Errorf("after CopyWith: %+v", st)
				}
			})
		}
	}
}

// A source that ends before the limit gives io.EOF, as io.CopyN does.
func TestCopyWithShortSource(t *testing.T) {
	for _, mode := range []Mode{Always, Never} {
		t.Run(mode.String(), func(t *testing.T) {
			data := payload(7, 100<<10)
			w, src := pair(t, tcpKind)
			dst, rd := pair(t, tcpKind)
			go func() {
				w.Write(data)
				w.CloseWrite()
			}()
			done := make(chan error, 1)
			var n int64
			go func() {
				var err error
				n, err = NewPool(PoolConfig{Mode: mode}).CopyWith(dst, src, CopyOptions{Limit: 1 << 20})
				dst.CloseWrite()
				done <- err
			}()
			got, _ := io.ReadAll(rd)
			if err := <-done; !errors.Is(err, io.EOF) || n != int64(len(data)) || !bytes.Equal(got, data) {
				t.Fatalf("CopyWith = %d, %v (got %d bytes); want %d, io.EOF", n, err, len(got), len(data))
			}
		})
	}
}

// Bytes a wrapper has buffered count against the limit: past it they stay
// in the wrapper.
func TestCopyWithLimitInWrapper(t *testing.T) {
	w, src := pair(t, tcpKind)
	dst, rd := pair(t, tcpKind)
	wrapper := newBufConn(src)
	head := payload(3, 1000)
	w.Write(head)
	if _, err := wrapper.br.Peek(len(head)); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := NewPool(PoolConfig{}).CopyWith(dst, wrapper, CopyOptions{Limit: 600})
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
	if !bytes.Equal(got, head[:600]) || wrapper.Buffered() != 400 {
		t.Fatalf("copied %d bytes, %d left buffered; want 600 and 400", len(got), wrapper.Buffered())
	}
}

// Readers and writers that are not sockets honour the limit too.
func TestCopyWithNonSockets(t *testing.T) {
	data := payload(9, 100<<10)
	var out bytes.Buffer
	src := bytes.NewReader(data)
	n, err := NewPool(PoolConfig{}).CopyWith(&out, src, CopyOptions{Limit: 5000})
	if err != nil || n != 5000 || !bytes.Equal(out.Bytes(), data[:5000]) || src.Len() != len(data)-5000 {
		t.Fatalf("CopyWith = %d, %v; copied %d, left %d", n, err, out.Len(), src.Len())
	}
}

// A source that sends nothing ends the copy with ErrIdleTimeout, blaming
// the source.
func TestCopyWithIdleTimeout(t *testing.T) {
	_, src := pair(t, tcpKind)
	dst, _ := pair(t, tcpKind)
	_, err := NewPool(PoolConfig{}).CopyWith(dst, src, CopyOptions{Limit: 10, IdleTimeout: 20 * time.Millisecond})
	var ie *IdleTimeoutError
	if !errors.Is(err, ErrIdleTimeout) || !errors.As(err, &ie) || ie.Write {
		t.Fatalf("CopyWith on a silent source: %v, want an IdleTimeoutError on the read side", err)
	}
}

// A destination that takes nothing (its peer never reads) ends the copy
// with an IdleTimeoutError on the write side, in every mode: a stalled
// reader of the copy must not be taken for a silent source.
func TestCopyWithIdleTimeoutBlamesStalledDestination(t *testing.T) {
	for _, mode := range []Mode{Auto, Always, Never} {
		t.Run(mode.String(), func(t *testing.T) {
			feed, src := pair(t, tcpKind)
			dst, _ := pair(t, tcpKind) // the peer of dst never reads
			const total = 64 << 20     // far more than the socket buffers hold
			go func() {
				chunk := make([]byte, 256<<10)
				for sent := 0; sent < total; sent += len(chunk) {
					if _, err := feed.Write(chunk); err != nil {
						return
					}
				}
			}()
			n, err := NewPool(PoolConfig{Mode: mode}).CopyWith(dst, src, CopyOptions{Limit: total, IdleTimeout: 50 * time.Millisecond})
			var ie *IdleTimeoutError
			if !errors.As(err, &ie) || !ie.Write || !errors.Is(err, ErrIdleTimeout) {
				t.Fatalf("CopyWith into a stalled destination after %d bytes: %v, want an IdleTimeoutError on the write side", n, err)
			}
			feed.Close()
		})
	}
}
