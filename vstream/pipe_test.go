package vstream

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/nettest"
)

func TestPipeConn(t *testing.T) {
	// A buffer smaller than the 13-byte message nettest echoes would
	// deadlock its echo test, as it would between two sockets.
	for _, size := range []int{0, 16, 1000} {
		t.Run(fmt.Sprint("buffer", size), func(t *testing.T) {
			nettest.TestConn(t, func() (net.Conn, net.Conn, func(), error) {
				a, b := NewPipe(PipeConfig{BufferSize: size})
				return a, b, func() { a.Close(); b.Close() }, nil
			})
		})
	}
}

// TestPipeBuffers shows a writer need not wait for a reader while the
// buffer has room, and blocks once it is full.
func TestPipeBuffers(t *testing.T) {
	a, b := NewPipe(PipeConfig{BufferSize: 100})
	defer a.Close()
	defer b.Close()
	data := bytes.Repeat([]byte("0123456789"), 10)
	if n, err := a.Write(data); n != 100 || err != nil {
		t.Fatalf("Write of a buffer's worth = %d, %v with no reader", n, err)
	}
	// Full now: a further Write blocks until its deadline.
	a.SetWriteDeadline(time.Now().Add(20 * time.Millisecond))
	n, err := a.Write([]byte("x"))
	if n != 0 || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Write to a full pipe = %d, %v; want a timeout", n, err)
	}
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("%v is not a net.Error timeout", err)
	}
	a.SetWriteDeadline(time.Time{})
	// A blocked Write resumes as the reader makes room.
	done := make(chan error, 1)
	go func() {
		_, err := a.Write(data)
		if err == nil {
			err = a.CloseWrite()
		}
		done <- err
	}()
	got, err := io.ReadAll(b)
	if err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if want := append(bytes.Clone(data), data...); !bytes.Equal(got, want) {
		t.Fatalf("read %q, want %q", got, want)
	}
}

func TestPipeHalfClose(t *testing.T) {
	a, b := Pipe()
	defer a.Close()
	defer b.Close()
	if _, err := a.Write([]byte("request")); err != nil {
		t.Fatal(err)
	}
	if err := a.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Write([]byte("more")); !errors.Is(err, io.ErrClosedPipe) {
		t.Fatalf("Write after CloseWrite = %v, want io.ErrClosedPipe", err)
	}
	got, err := io.ReadAll(b)
	if err != nil || string(got) != "request" {
		t.Fatalf("b read %q, %v", got, err)
	}
	// The other direction still works both ways round.
	if _, err := b.Write([]byte("response")); err != nil {
		t.Fatal(err)
	}
	if err := b.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	got, err = io.ReadAll(a)
	if err != nil || string(got) != "response" {
		t.Fatalf("a read %q, %v", got, err)
	}
}

func TestPipeClose(t *testing.T) {
	a, b := Pipe()
	if _, err := a.Write([]byte("last words")); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Write([]byte("never read")); err != nil {
		t.Fatal(err)
	}
	// Pending operations on the closed end return at once.
	var wg sync.WaitGroup
	pending := make(chan error, 1)
	wg.Add(1)
	started := make(chan struct{})
	go func() {
		defer wg.Done()
		buf := make([]byte, 64)
		n, _ := a.Read(buf) // "never read" is there: drain it first
		close(started)
		_ = n
		_, err := a.Read(buf)
		pending <- err
	}()
	<-started
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if err := <-pending; !errors.Is(err, net.ErrClosed) {
		t.Fatalf("pending Read after Close = %v, want net.ErrClosed", err)
	}
	tests := []struct {
		name string
		op   func() error
		want error
	}{
		{"closed end reads", func() error { _, err := a.Read(make([]byte, 1)); return err }, net.ErrClosed},
		{"closed end writes", func() error { _, err := a.Write([]byte("x")); return err }, net.ErrClosed},
		{"closed end half-closes", a.CloseWrite, net.ErrClosed},
		{"closed end closes again", a.Close, net.ErrClosed},
		{"peer writes", func() error { _, err := b.Write([]byte("x")); return err }, io.ErrClosedPipe},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.op(); !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
		})
	}
	// The peer still reads what was sent before the Close, then EOF.
	got, err := io.ReadAll(b)
	if err != nil || string(got) != "last words" {
		t.Fatalf("peer read %q, %v", got, err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestPipeAddrsAndDigest(t *testing.T) {
	x, y := Addr{Net: "pipe", Name: "x"}, Addr{Net: "pipe", Name: "y"}
	a, b := NewPipe(PipeConfig{Addr1: x, Addr2: y})
	defer a.Close()
	defer b.Close()
	if a.LocalAddr() != x || a.RemoteAddr() != y || b.LocalAddr() != y || b.RemoteAddr() != x {
		t.Fatalf("addrs: a %v→%v, b %v→%v", a.LocalAddr(), a.RemoteAddr(), b.LocalAddr(), b.RemoteAddr())
	}
	d := a.(Digester).Digest()
	if d.LocalAddr != x || d.RemoteAddr != y || d.ClientAddr != y || d.AcceptTime.IsZero() {
		t.Fatalf("digest %+v", d)
	}
	if AddrPort(d.ClientAddr).IsValid() {
		t.Fatal("a pipe address converted to an IP address")
	}
}

// TestPipeReadersAllWake checks several Readers blocked on one end all get
// the data written and EOF, none left waiting.
func TestPipeReadersAllWake(t *testing.T) {
	a, b := NewPipe(PipeConfig{BufferSize: 16})
	defer a.Close()
	defer b.Close()
	const readers = 8
	var mu sync.Mutex
	var total int
	var wg sync.WaitGroup
	for range readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 3)
			for {
				n, err := b.Read(buf)
				mu.Lock()
				total += n
				mu.Unlock()
				if err == io.EOF {
					return
				}
				if err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	data := bytes.Repeat([]byte("abcdefgh"), 1000)
	if _, err := a.Write(data); err != nil {
		t.Fatal(err)
	}
	a.CloseWrite()
	wg.Wait()
	if total != len(data) {
		t.Fatalf("readers got %d bytes, want %d", total, len(data))
	}
}
