package vmux

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

func TestParseFrameRoundTrip(t *testing.T) {
	frames := []Frame{
		HelloFrame(Hello{Window: 1 << 20, MaxFrameSize: 16 << 10, MaxStreams: 7}),
		OpenFrame(1),
		DataFrame(3, []byte("hello")),
		DataFrame(5, nil),
		FinFrame(2),
		ResetFrame(9, CodeCancel),
		WindowFrame(11, 65536),
		PingFrame(0xdeadbeef, false),
		PingFrame(0xdeadbeef, true),
		GoAwayFrame(41, CodeProtocol, "bad frame"),
		GoAwayFrame(0, CodeNone, ""),
	}
	for _, f := range frames {
		t.Run(f.Type.String(), func(t *testing.T) {
			b := AppendFrame([]byte("prefix"), f)[len("prefix"):]
			b = append(b, "trailing"...)
			got, n, err := ParseFrame(b, 16<<10)
			if err != nil {
				t.Fatal(err)
			}
			if n != HeaderLen+len(f.Payload) || got.Type != f.Type || got.Flags != f.Flags || got.StreamID != f.StreamID || !bytes.Equal(got.Payload, f.Payload) {
				t.Fatalf("parsed %+v (%d bytes), want %+v", got, n, f)
			}
			if _, _, err := ParseFrame(b[:n-1], 16<<10); n > HeaderLen && !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("truncated: %v", err)
			}
		})
	}
	// Typed accessors.
	h := HelloFrame(Hello{Window: 100000, MaxFrameSize: 2048, MaxStreams: 3}).Hello()
	if h != (Hello{Version: Version, Window: 100000, MaxFrameSize: 2048, MaxStreams: 3}) {
		t.Errorf("Hello %+v", h)
	}
	g := GoAwayFrame(41, CodeProtocol, "bad frame")
	if g.LastStream() != 41 || g.Code() != CodeProtocol || g.Reason() != "bad frame" {
		t.Errorf("GOAWAY fields %d %s %q", g.LastStream(), g.Code(), g.Reason())
	}
	if ResetFrame(1, CodeRefused).Code() != CodeRefused || WindowFrame(1, 5).Window() != 5 || PingFrame(9, false).PingData() != 9 {
		t.Error("RESET/WINDOW/PING accessors")
	}
	if long := GoAwayFrame(0, CodeNone, string(make([]byte, 2*MaxGoAwayReason))); len(long.Reason()) != MaxGoAwayReason {
		t.Errorf("GOAWAY reason not cut: %d bytes", len(long.Reason()))
	}
}

func TestParseFrameShort(t *testing.T) {
	if _, _, err := ParseFrame([]byte{0, 0, 0, 1}, 1024); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("short header: %v", err)
	}
}

func TestReasonAndCodes(t *testing.T) {
	tests := []struct {
		err  error
		want string
		code Code
	}{
		{ErrSessionClosed, "closed", CodeNone},
		{ErrPeerClosed, "peer_closed", CodeInternal},
		{&GoAwayError{Code: CodeInternal}, "goaway", CodeInternal},
		{ErrFrameSize, "frame_size", CodeFrameSize},
		{ErrFrameTooLarge, "frame_size", CodeFrameSize},
		{ErrFlowControl, "flow_control", CodeFlowControl},
		{ErrControlFlood, "flood", CodeProtocol},
		{ErrStreamID, "protocol", CodeProtocol},
		{ErrHandshakeTimeout, "handshake_timeout", CodeTimeout},
		{ErrWriteTimeout, "write_timeout", CodeTimeout},
		{ErrFrameTimeout, "frame_timeout", CodeTimeout},
		{ErrIdleTimeout, "idle", CodeNone},
		{io.ErrUnexpectedEOF, "io", CodeInternal},
	}
	for _, tt := range tests {
		if got := Reason(tt.err); got != tt.want {
			t.Errorf("Reason(%v) = %q, want %q", tt.err, got, tt.want)
		}
		if got := codeOf(tt.err); got != tt.code {
			t.Errorf("codeOf(%v) = %s, want %s", tt.err, got, tt.code)
		}
	}
	if Reason(nil) != "" || Code(99).String() != "code_99" {
		t.Error("Reason(nil) or unknown code name")
	}
}
