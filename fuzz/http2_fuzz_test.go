package fuzz

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	sh2 "github.com/sluice-proxy/sluice/protocols/http2"
	"github.com/sluice-proxy/sluice/vstream"
)

// http2Seeds are client byte streams after the preface: a GET, a POST
// with a body, a PING, a flood of resets, frames out of place.
func http2Seeds() [][]byte {
	var out [][]byte
	frames := func(write func(fr *http2.Framer, enc *hpack.Encoder, hb *bytes.Buffer)) []byte {
		var b, hb bytes.Buffer
		fr := http2.NewFramer(&b, nil)
		enc := hpack.NewEncoder(&hb)
		fr.WriteSettings()
		write(fr, enc, &hb)
		return b.Bytes()
	}
	head := func(enc *hpack.Encoder, hb *bytes.Buffer, method string) []byte {
		hb.Reset()
		for _, f := range []hpack.HeaderField{{Name: ":method", Value: method}, {Name: ":scheme", Value: "http"},
			{Name: ":authority", Value: "x"}, {Name: ":path", Value: "/"}} {
			enc.WriteField(f)
		}
		return append([]byte(nil), hb.Bytes()...)
	}
	out = append(out, frames(func(fr *http2.Framer, enc *hpack.Encoder, hb *bytes.Buffer) {
		fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: head(enc, hb, "GET"), EndStream: true, EndHeaders: true})
	}))
	out = append(out, frames(func(fr *http2.Framer, enc *hpack.Encoder, hb *bytes.Buffer) {
		fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: head(enc, hb, "POST"), EndHeaders: true})
		fr.WriteData(1, false, []byte("hello"))
		fr.WriteWindowUpdate(0, 1000)
		fr.WriteData(1, true, []byte(" world"))
	}))
	out = append(out, frames(func(fr *http2.Framer, enc *hpack.Encoder, hb *bytes.Buffer) {
		fr.WritePing(false, [8]byte{1})
		fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1})
		fr.WriteGoAway(0, http2.ErrCodeNo, nil)
	}))
	out = append(out, frames(func(fr *http2.Framer, enc *hpack.Encoder, hb *bytes.Buffer) {
		for id := uint32(1); id < 60; id += 2 {
			fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: head(enc, hb, "GET"), EndHeaders: true})
			fr.WriteRSTStream(id, http2.ErrCodeCancel)
		}
	}))
	out = append(out, frames(func(fr *http2.Framer, enc *hpack.Encoder, hb *bytes.Buffer) {
		fr.WriteData(3, false, []byte("idle"))
		fr.WriteContinuation(1, true, []byte{0x82})
	}))
	return out
}

// FuzzHTTP2Conn feeds arbitrary frames (after the preface) to a server
// connection whose handler answers and echoes: it must end (no hang, no
// panic) once its client's bytes end, with nil or one of the package's
// errors.
func FuzzHTTP2Conn(f *testing.F) {
	for _, s := range http2Seeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		cli, srv := vstream.Pipe()
		defer cli.Close()
		done := make(chan error, 1)
		go func() {
			done <- sh2.Serve(srv, sh2.Limits{SettingsTimeout: time.Second}, func(st *sh2.Stream) {
				st.WriteHeader(200, nil, false)
				io.Copy(st, io.LimitReader(st.Body, 1<<20))
			})
		}()
		go io.Copy(io.Discard, cli)
		cli.Write([]byte(http2.ClientPreface))
		cli.Write(in)
		cli.CloseWrite()
		select {
		case err := <-done:
			if err != nil && !errors.Is(err, sh2.ErrProtocol) && !errors.Is(err, sh2.ErrCalm) && !errors.Is(err, sh2.ErrPreface) {
				t.Fatalf("Serve = %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("Serve still running 10 s after its client's bytes ended")
		}
	})
}
