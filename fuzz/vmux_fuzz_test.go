package fuzz

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/sluice-proxy/sluice/protocols/vmux"
	"github.com/sluice-proxy/sluice/vstream"
)

// vmuxMaxFrame is the maximum frame size the fuzz targets parse with.
const vmuxMaxFrame = 4096

// vmuxSeeds are FuzzVmuxFrame's seeds: a valid session opening (HELLO,
// streams, data, half-close, reset, window, ping, goaway) and one of each
// malformed kind. Each also lives in testdata/fuzz/FuzzVmuxFrame/<name>;
// TestVmuxFrameCorpus keeps the two in step (SLUICE_UPDATE_CORPUS=1
// rewrites the files).
func vmuxSeeds() map[string][]byte {
	fr := func(t vmux.FrameType, flags uint8, id uint32, p []byte) []byte {
		return vmux.AppendFrame(nil, vmux.Frame{Type: t, Flags: flags, StreamID: id, Payload: p})
	}
	u32 := func(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }
	cat := func(bs ...[]byte) []byte { return bytes.Join(bs, nil) }
	hello := vmux.AppendFrame(nil, vmux.HelloFrame(vmux.Hello{Window: 64 << 10, MaxFrameSize: 16 << 10, MaxStreams: 100}))
	badMagic := bytes.Clone(hello)
	copy(badMagic[vmux.HeaderLen:], "VMUX")
	open1 := fr(vmux.FrameOpen, 0, 1, nil)
	return map[string][]byte{
		"hello":          hello,
		"session":        cat(hello, open1, fr(vmux.FrameData, 0, 1, []byte("GET / HTTP/1.1\r\n\r\n")), fr(vmux.FrameFin, 0, 1, nil), fr(vmux.FrameWindow, 0, 1, u32(4096))),
		"streams":        cat(hello, open1, fr(vmux.FrameOpen, 0, 3, nil), fr(vmux.FrameData, 0, 3, []byte("x")), fr(vmux.FrameReset, 0, 1, u32(5)), fr(vmux.FrameData, 0, 1, []byte("late"))),
		"ping":           cat(hello, vmux.AppendFrame(nil, vmux.PingFrame(42, false)), vmux.AppendFrame(nil, vmux.PingFrame(7, true))),
		"goaway":         cat(hello, open1, vmux.AppendFrame(nil, vmux.GoAwayFrame(0, vmux.CodeNone, "")), fr(vmux.FrameData, 0, 1, []byte("after"))),
		"goaway-error":   cat(hello, vmux.AppendFrame(nil, vmux.GoAwayFrame(3, vmux.CodeProtocol, "bad frame"))),
		"empty":          {},
		"truncated":      hello[:12],
		"no-hello":       open1,
		"bad-magic":      badMagic,
		"unknown-type":   cat(hello, fr(0x9, 0, 0, nil)),
		"bad-flags":      cat(hello, open1, fr(vmux.FrameData, 0x1, 1, []byte("x"))),
		"stream-zero":    cat(hello, fr(vmux.FrameData, 0, 0, []byte("x"))),
		"reserved-bit":   cat(hello, fr(vmux.FrameOpen, 0, 1<<31|1, nil)),
		"id-reused":      cat(hello, open1, open1),
		"short-reset":    cat(hello, open1, fr(vmux.FrameReset, 0, 1, []byte{0, 1})),
		"too-large":      cat(hello, open1, fr(vmux.FrameData, 0, 1, make([]byte, vmuxMaxFrame+1))),
		"huge-length":    cat(hello, []byte{0xff, 0xff, 0xff, 0x02, 0, 0, 0, 0, 1}),
		"zero-window":    cat(hello, open1, fr(vmux.FrameWindow, 0, 1, u32(0))),
		"never-opened":   cat(hello, fr(vmux.FrameData, 0, 5, []byte("x"))),
		"data-after-fin": cat(hello, open1, fr(vmux.FrameFin, 0, 1, nil), fr(vmux.FrameData, 0, 1, []byte("x"))),
		"window-overrun": cat(hello, open1, fr(vmux.FrameData, 0, 1, make([]byte, vmuxMaxFrame)), fr(vmux.FrameData, 0, 1, make([]byte, vmuxMaxFrame)), fr(vmux.FrameData, 0, 1, []byte("x"))),
	}
}

// FuzzVmuxFrame feeds arbitrary bytes to the vmux frame parser and to a
// server session. The parser must accept or reject each frame with one
// documented error; an accepted frame must re-encode to the bytes it was
// parsed from, both raw and through its typed constructor. The session,
// reading the bytes as its peer's, must end (no hang) with an error of a
// documented kind, and not panic.
func FuzzVmuxFrame(f *testing.F) {
	for _, seed := range vmuxSeeds() {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		for rest := in; len(rest) > 0; {
			fr, n, err := vmux.ParseFrame(rest, vmuxMaxFrame)
			if err != nil {
				vmuxParseClass(t, err)
				break
			}
			if n < vmux.HeaderLen || n > len(rest) {
				t.Fatalf("ParseFrame took %d of %d bytes", n, len(rest))
			}
			if got := vmux.AppendFrame(nil, fr); !bytes.Equal(got, rest[:n]) {
				t.Fatalf("re-encoded %x, parsed from %x", got, rest[:n])
			}
			if typed := vmuxRebuild(fr); !bytes.Equal(vmux.AppendFrame(nil, typed), rest[:n]) {
				t.Fatalf("%s frame rebuilt from its fields as %x, parsed from %x", fr.Type, vmux.AppendFrame(nil, typed), rest[:n])
			}
			rest = rest[n:]
		}
		vmuxSessionEnds(t, in)
	})
}

// vmuxParseClass checks a ParseFrame error matches exactly one documented
// error and returns its name.
func vmuxParseClass(t *testing.T, err error) string {
	t.Helper()
	var classes []string
	for _, c := range []struct {
		name string
		err  error
	}{
		{"unknown", vmux.ErrUnknownFrame},
		{"flags", vmux.ErrFlags},
		{"stream-id", vmux.ErrStreamID},
		{"frame-size", vmux.ErrFrameSize},
		{"too-large", vmux.ErrFrameTooLarge},
		{"bad-value", vmux.ErrBadValue},
		{"truncated", io.ErrUnexpectedEOF},
	} {
		if errors.Is(err, c.err) {
			classes = append(classes, c.name)
		}
	}
	if len(classes) != 1 {
		t.Fatalf("error %q matches %v, want exactly one documented error", err, classes)
	}
	return classes[0]
}

// vmuxRebuild builds a frame like f from its decoded fields with the
// typed constructors.
func vmuxRebuild(f vmux.Frame) vmux.Frame {
	switch f.Type {
	case vmux.FrameHello:
		return vmux.HelloFrame(f.Hello())
	case vmux.FrameOpen:
		return vmux.OpenFrame(f.StreamID)
	case vmux.FrameData:
		return vmux.DataFrame(f.StreamID, f.Payload)
	case vmux.FrameFin:
		return vmux.FinFrame(f.StreamID)
	case vmux.FrameReset:
		return vmux.ResetFrame(f.StreamID, f.Code())
	case vmux.FrameWindow:
		return vmux.WindowFrame(f.StreamID, f.Window())
	case vmux.FramePing:
		return vmux.PingFrame(f.PingData(), f.Flags&vmux.FlagAck != 0)
	case vmux.FrameGoAway:
		return vmux.GoAwayFrame(f.LastStream(), f.Code(), f.Reason())
	}
	return vmux.Frame{}
}

// vmuxSessionEnds runs a server session whose peer sends in, then closes
// its side, and checks the session ends with a documented reason.
func vmuxSessionEnds(t *testing.T, in []byte) error {
	t.Helper()
	peer, conn := vstream.Pipe()
	defer peer.Close()
	sess := vmux.Server(conn, vmux.Config{MaxFrameSize: vmuxMaxFrame, Window: 2 * vmuxMaxFrame, MaxStreams: 8, HandshakeTimeout: -1})
	go io.Copy(io.Discard, peer) // a peer that reads what the session sends
	go func() {
		peer.Write(in)
		peer.CloseWrite()
	}()
	select {
	case <-sess.Done():
	case <-time.After(10 * time.Second):
		t.Fatalf("session still running 10 s after its peer's %d bytes ended", len(in))
	}
	err := sess.Err()
	switch vmux.Reason(err) {
	// "closed": the peer's GOAWAY left no stream, so the session ended
	// itself, a clean end that races with the peer's EOF ("peer_closed").
	case "peer_closed", "closed", "goaway", "protocol", "frame_size", "flow_control":
	case "io":
		if !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("session ended with %v", err)
		}
	default:
		t.Fatalf("session ended with %v (%s)", err, vmux.Reason(err))
	}
	return err
}

// TestVmuxFrameSeeds pins what each seed exercises: its first parse error
// (or "ok") and how a session reading it ends.
func TestVmuxFrameSeeds(t *testing.T) {
	want := map[string][2]string{
		"hello": {"ok", "peer_closed"}, "session": {"ok", "peer_closed"}, "streams": {"ok", "peer_closed"},
		"ping": {"ok", "peer_closed"}, "goaway": {"ok", "peer_closed"}, "goaway-error": {"ok", "goaway"},
		"empty": {"ok", "peer_closed"}, "truncated": {"truncated", "io"}, "no-hello": {"ok", "protocol"},
		"bad-magic": {"bad-value", "protocol"}, "unknown-type": {"unknown", "protocol"}, "bad-flags": {"flags", "protocol"},
		"stream-zero": {"stream-id", "protocol"}, "reserved-bit": {"stream-id", "protocol"}, "id-reused": {"ok", "protocol"},
		"short-reset": {"frame-size", "frame_size"}, "too-large": {"too-large", "frame_size"}, "huge-length": {"too-large", "frame_size"},
		"zero-window": {"bad-value", "protocol"}, "never-opened": {"ok", "protocol"}, "data-after-fin": {"ok", "protocol"},
		"window-overrun": {"ok", "flow_control"},
	}
	seeds := vmuxSeeds()
	if len(seeds) != len(want) {
		t.Fatalf("%d seeds, %d expectations", len(seeds), len(want))
	}
	for name, seed := range seeds {
		parse := "ok"
		for rest := seed; len(rest) > 0; {
			_, n, err := vmux.ParseFrame(rest, vmuxMaxFrame)
			if err != nil {
				parse = vmuxParseClass(t, err)
				break
			}
			rest = rest[n:]
		}
		sess := vmux.Reason(vmuxSessionEnds(t, seed))
		if got := [2]string{parse, sess}; got != want[name] {
			t.Errorf("seed %s: parse %s, session %s; want %v", name, parse, sess, want[name])
		}
	}
}

// TestVmuxFrameCorpus checks that every seed is also a corpus file with the
// same bytes. SLUICE_UPDATE_CORPUS=1 writes the files instead.
func TestVmuxFrameCorpus(t *testing.T) { checkCorpus(t, "FuzzVmuxFrame", vmuxSeeds()) }
