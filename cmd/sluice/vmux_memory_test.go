//go:build linux

package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/sluice-proxy/sluice/protocols/vmux"
)

// hangingUpstream returns the address of a TCP listener whose connects
// never complete: its accept queue (backlog 0: one connection) is full and
// nobody accepts, so the kernel drops further SYNs and the dialler waits
// for its own timeout.
func hangingUpstream(t *testing.T) string {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", sa.(*syscall.SockaddrInet4).Port)
	filler, err := net.Dial("tcp", addr) // fills the queue
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { filler.Close() })
	return addr
}

// vmuxFiller is a hand-driven vmux client: it opens streams and fills
// every window the server grants, reading nothing but the server's frames.
type vmuxFiller struct {
	t  *testing.T
	c  net.Conn
	br *bufio.Reader
}

func (f *vmuxFiller) send(fr vmux.Frame) {
	f.t.Helper()
	if _, err := f.c.Write(vmux.AppendFrame(nil, fr)); err != nil {
		f.t.Fatalf("write %s: %v", fr.Type, err)
	}
}

// next reads the server's next frame.
func (f *vmuxFiller) next() vmux.Frame {
	f.t.Helper()
	var hdr [vmux.HeaderLen]byte
	if _, err := io.ReadFull(f.br, hdr[:]); err != nil {
		f.t.Fatalf("read: %v", err)
	}
	b := make([]byte, vmux.HeaderLen+(int(hdr[0])<<16|int(hdr[1])<<8|int(hdr[2])))
	copy(b, hdr[:])
	if _, err := io.ReadFull(f.br, b[vmux.HeaderLen:]); err != nil {
		f.t.Fatalf("read: %v", err)
	}
	fr, _, err := vmux.ParseFrame(b, vmux.MaxFrameSizeLimit)
	if err != nil {
		f.t.Fatalf("server sent a bad frame: %v", err)
	}
	return fr
}

// fill opens streams streams and sends on each the whole window the
// server's HELLO grants, then waits for the answer to a PING sent after
// them: the server has then taken in every byte (it reads frames in order).
// It returns the server's HELLO and how many streams it refused.
func (f *vmuxFiller) fill(streams int) (vmux.Hello, int) {
	f.t.Helper()
	f.send(vmux.HelloFrame(vmux.Hello{Window: 64 << 10, MaxFrameSize: 16 << 10, MaxStreams: 1}))
	fr := f.next()
	if fr.Type != vmux.FrameHello {
		f.t.Fatalf("first frame %s, want HELLO", fr.Type)
	}
	h := fr.Hello()
	chunk := make([]byte, min(h.MaxFrameSize, h.Window))
	for i := range streams {
		id := uint32(2*i + 1)
		f.send(vmux.Frame{Type: vmux.FrameOpen, StreamID: id})
		for rem := int(h.Window); rem > 0; rem -= len(chunk) {
			f.send(vmux.Frame{Type: vmux.FrameData, StreamID: id, Payload: chunk[:min(rem, len(chunk))]})
		}
	}
	f.send(vmux.PingFrame(42, false))
	refused := 0
	for {
		switch fr := f.next(); {
		case fr.Type == vmux.FrameReset && fr.Code() == vmux.CodeRefused:
			refused++
		case fr.Type == vmux.FramePing && fr.Flags&vmux.FlagAck != 0 && fr.PingData() == 42:
			return h, refused
		}
	}
}

// TestVmuxMemoryBoundedWhenUpstreamHangs: the case through the
// binary's path. A vmux client opens more streams than the service admits
// over one connection and fills every window on them, while the service's
// upstream never completes a connect, so nothing reads the streams. What
// vmux then holds (vmux.BufferedBytes, the receive buffers of every
// session) is exactly the admitted streams' windows, within the bound the
// vmux: section sets (max_streams × stream_window), or 8 MiB with the
// defaults, where vmux's old defaults (1024 × 256 KiB) let this client
// alone make sluice hold 64 MiB. Once the service stops, all of it is
// freed.
func TestVmuxMemoryBoundedWhenUpstreamHangs(t *testing.T) {
	for _, tc := range []struct {
		name       string
		section    string
		streams    int   // the client opens
		maxStreams int   // the service admits
		window     int   // bytes per stream
		bound      int64 // what vmux may hold
	}{
		{"defaults", "", 256, 128, 64 << 10, 8 << 20},
		{"configured", "    vmux: {max_streams: 16, stream_window: 16KiB}\n", 64, 16, 16 << 10, 256 << 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			up := hangingUpstream(t)
			// connect: 1h, so that no stream is given up while the test
			// measures; grace: 0s, so that stopping cancels the connects.
			yaml := fmt.Sprintf("log: {level: error}\nshutdown: {grace: 0s}\ntcp:\n  - name: vm\n    protocol: vmux\n    listen: [\"127.0.0.1:0\"]\n    upstreams: [{addr: %q}]\n    timeouts: {connect: 1h}\n%s",
				up, tc.section)
			cfg, err := parseConfig("v.yaml", []byte(yaml))
			if err != nil {
				t.Fatal(err)
			}
			before := vmux.BufferedBytes()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			ready := make(chan *app, 1)
			done := make(chan error, 1)
			go func() { done <- run(ctx, cfg, io.Discard, io.Discard, func(a *app) { ready <- a }) }()
			a := <-ready
			conn, err := net.Dial("tcp", a.addrOf("tcp", 0))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			// A guard against a hang, not a timing assertion.
			conn.SetDeadline(time.Now().Add(time.Minute))
			f := &vmuxFiller{t: t, c: conn, br: bufio.NewReader(conn)}
			h, refused := f.fill(tc.streams)
			held := vmux.BufferedBytes() - before
			admitted := tc.streams - refused
			t.Logf("%d streams opened, %d refused; vmux holds %d bytes (bound %d)", tc.streams, refused, held, tc.bound)
			if held > tc.bound {
				t.Fatalf("vmux holds %d bytes for one connection, bound %d", held, tc.bound)
			}
			if int(h.MaxStreams) != tc.maxStreams || int(h.Window) != tc.window {
				t.Fatalf("the service announced %d streams × %d bytes, want %d × %d", h.MaxStreams, h.Window, tc.maxStreams, tc.window)
			}
			// Every admitted stream holds its full window: nothing read
			// them, so the upstream did hang and the bound was reached.
			if admitted != tc.maxStreams || held != int64(admitted*tc.window) {
				t.Fatalf("%d streams admitted holding %d bytes, want %d holding %d", admitted, held, tc.maxStreams, tc.maxStreams*tc.window)
			}

			conn.Close()
			cancel()
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			if got := vmux.BufferedBytes() - before; got != 0 {
				t.Fatalf("after the service stopped vmux still holds %d bytes", got)
			}
		})
	}
}
