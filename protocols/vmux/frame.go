package vmux

import (
	"encoding/binary"
	"fmt"
	"io"
)

// Protocol constants (see the package documentation for the wire format).
const (
	// HeaderLen is the length of a frame header.
	HeaderLen = 9
	// MaxFrameSizeLimit is the largest payload length a frame header can
	// carry, and the largest maximum frame size a HELLO may announce.
	MaxFrameSizeLimit = 1<<24 - 1
	// MinFrameSize is the smallest maximum frame size a HELLO may announce.
	MinFrameSize = 1024
	// MaxWindow is the largest a stream's window may be.
	MaxWindow = 1<<31 - 1
	// Version is the protocol version this package speaks.
	Version = 1
	// MaxGoAwayReason bounds the reason text of a GOAWAY frame, in bytes.
	MaxGoAwayReason = 1024

	helloLen   = 20
	helloMagic = "vmux"
)

// FrameType is a frame's type byte.
type FrameType uint8

// The frame types.
const (
	FrameHello  FrameType = 0x0 // settings; the first frame each side sends
	FrameOpen   FrameType = 0x1 // opens a stream
	FrameData   FrameType = 0x2 // stream bytes
	FrameFin    FrameType = 0x3 // the sender's half of the stream is done
	FrameReset  FrameType = 0x4 // aborts a stream
	FrameWindow FrameType = 0x5 // grants a stream's sender more window
	FramePing   FrameType = 0x6 // liveness and round-trip time
	FrameGoAway FrameType = 0x7 // no new streams; possibly the end of the session
)

// FlagAck marks a PING frame as the answer to one.
const FlagAck = 0x1

func (t FrameType) String() string {
	switch t {
	case FrameHello:
		return "HELLO"
	case FrameOpen:
		return "OPEN"
	case FrameData:
		return "DATA"
	case FrameFin:
		return "FIN"
	case FrameReset:
		return "RESET"
	case FrameWindow:
		return "WINDOW"
	case FramePing:
		return "PING"
	case FrameGoAway:
		return "GOAWAY"
	}
	return fmt.Sprintf("FRAME(0x%02x)", uint8(t))
}

// Frame is one frame as it is on the wire. Payload is the raw payload;
// the typed accessors (Hello, Window, Code, ...) decode it for frames that
// ParseFrame accepted.
type Frame struct {
	Type     FrameType
	Flags    uint8
	StreamID uint32
	Payload  []byte
}

// Hello is the payload of a HELLO frame: the sender's settings, which
// bind the receiver.
type Hello struct {
	// Version is the protocol version; 1.
	Version uint16
	// Window is the initial window of every stream, in both the streams
	// the sender opens and those it accepts: how many bytes the receiver
	// may send on a stream before the sender grants more.
	Window uint32
	// MaxFrameSize is the largest DATA payload the sender accepts.
	MaxFrameSize uint32
	// MaxStreams is how many streams opened by the receiver the sender
	// keeps open at once; more are refused with RESET(refused).
	MaxStreams uint32
}

// header is a decoded frame header.
type header struct {
	length uint32
	typ    FrameType
	flags  uint8
	id     uint32
}

func decodeHeader(b []byte) header {
	return header{
		length: uint32(b[0])<<16 | uint32(b[1])<<8 | uint32(b[2]),
		typ:    FrameType(b[3]),
		flags:  b[4],
		id:     binary.BigEndian.Uint32(b[5:9]),
	}
}

func appendHeader(b []byte, length int, t FrameType, flags uint8, id uint32) []byte {
	b = append(b, byte(length>>16), byte(length>>8), byte(length), byte(t), flags)
	return binary.BigEndian.AppendUint32(b, id)
}

// check validates what a header alone says: the type, flags, stream id
// and payload length. maxPayload is the receiver's maximum frame size.
func (h header) check(maxPayload uint32) error {
	if h.id>>31 != 0 {
		return fmt.Errorf("%w: %s frame with reserved bit set in stream id 0x%08x", ErrStreamID, h.typ, h.id)
	}
	var wantFlags uint8
	var stream bool // the type belongs to a stream
	var size int    // exact payload length, or -1
	switch h.typ {
	case FrameHello:
		size = helloLen
	case FrameOpen, FrameFin:
		stream, size = true, 0
	case FrameData:
		stream, size = true, -1
	case FrameReset, FrameWindow:
		stream, size = true, 4
	case FramePing:
		wantFlags, size = FlagAck, 8
	case FrameGoAway:
		size = -1
	default:
		return fmt.Errorf("%w 0x%02x", ErrUnknownFrame, uint8(h.typ))
	}
	if h.flags&^wantFlags != 0 {
		return fmt.Errorf("%w: %s frame with flags 0x%02x", ErrFlags, h.typ, h.flags)
	}
	if stream && h.id == 0 {
		return fmt.Errorf("%w: %s frame on stream 0", ErrStreamID, h.typ)
	}
	if !stream && h.id != 0 {
		return fmt.Errorf("%w: %s frame on stream %d, want 0", ErrStreamID, h.typ, h.id)
	}
	switch {
	case size >= 0 && h.length != uint32(size):
		return fmt.Errorf("%w: %s frame of %d bytes, want %d", ErrFrameSize, h.typ, h.length, size)
	case h.typ == FrameGoAway && (h.length < 8 || h.length > 8+MaxGoAwayReason):
		return fmt.Errorf("%w: GOAWAY frame of %d bytes, want 8 to %d", ErrFrameSize, h.length, 8+MaxGoAwayReason)
	case h.length > maxPayload:
		return fmt.Errorf("%w: %s frame of %d bytes, limit %d", ErrFrameTooLarge, h.typ, h.length, maxPayload)
	}
	return nil
}

// checkPayload validates the fields of a payload whose length check
// accepted.
func (h header) checkPayload(p []byte) error {
	switch h.typ {
	case FrameHello:
		hl := decodeHello(p)
		switch {
		case string(p[:4]) != helloMagic:
			return fmt.Errorf("%w: HELLO magic %q, want %q", ErrBadValue, p[:4], helloMagic)
		case hl.Version != Version:
			return fmt.Errorf("%w: HELLO version %d, want %d", ErrBadValue, hl.Version, Version)
		case binary.BigEndian.Uint16(p[6:8]) != 0:
			return fmt.Errorf("%w: HELLO reserved field 0x%04x", ErrBadValue, binary.BigEndian.Uint16(p[6:8]))
		case hl.Window == 0 || hl.Window > MaxWindow:
			return fmt.Errorf("%w: HELLO window %d, want 1 to %d", ErrBadValue, hl.Window, MaxWindow)
		case hl.MaxFrameSize < MinFrameSize || hl.MaxFrameSize > MaxFrameSizeLimit:
			return fmt.Errorf("%w: HELLO max frame size %d, want %d to %d", ErrBadValue, hl.MaxFrameSize, MinFrameSize, MaxFrameSizeLimit)
		}
	case FrameWindow:
		if inc := binary.BigEndian.Uint32(p); inc == 0 || inc > MaxWindow {
			return fmt.Errorf("%w: WINDOW increment %d on stream %d, want 1 to %d", ErrBadValue, inc, h.id, MaxWindow)
		}
	case FrameGoAway:
		if last := binary.BigEndian.Uint32(p); last>>31 != 0 {
			return fmt.Errorf("%w: GOAWAY last stream 0x%08x has the reserved bit set", ErrStreamID, last)
		}
	}
	return nil
}

// ParseFrame parses the frame at the start of b, at most maxPayload bytes
// of payload long (the receiver's maximum frame size; values outside
// MinFrameSize..MaxFrameSizeLimit are clamped), and returns it with the
// number of bytes it took. The frame's Payload aliases b.
//
// A b too short for the frame gives io.ErrUnexpectedEOF. A malformed frame
// gives an error wrapping one of ErrUnknownFrame, ErrFlags, ErrStreamID,
// ErrFrameSize, ErrFrameTooLarge or ErrBadValue. Rules that need a
// session's state (HELLO first, increasing stream ids, windows) are not
// checked here.
func ParseFrame(b []byte, maxPayload int) (Frame, int, error) {
	if len(b) < HeaderLen {
		return Frame{}, 0, io.ErrUnexpectedEOF
	}
	h := decodeHeader(b)
	if err := h.check(uint32(clamp(maxPayload, MinFrameSize, MaxFrameSizeLimit))); err != nil {
		return Frame{}, 0, err
	}
	n := HeaderLen + int(h.length)
	if len(b) < n {
		return Frame{}, 0, io.ErrUnexpectedEOF
	}
	p := b[HeaderLen:n:n]
	if err := h.checkPayload(p); err != nil {
		return Frame{}, 0, err
	}
	return Frame{Type: h.typ, Flags: h.flags, StreamID: h.id, Payload: p}, n, nil
}

// AppendFrame appends f's wire form to dst. It does not validate f: a
// frame ParseFrame returned comes out as the bytes it was parsed from.
func AppendFrame(dst []byte, f Frame) []byte {
	dst = appendHeader(dst, len(f.Payload), f.Type, f.Flags, f.StreamID)
	return append(dst, f.Payload...)
}

func clamp(v, lo, hi int) int { return min(max(v, lo), hi) }

// HelloFrame returns the HELLO frame announcing h (Version is set to
// Version).
func HelloFrame(h Hello) Frame {
	p := make([]byte, 0, helloLen)
	p = append(p, helloMagic...)
	p = binary.BigEndian.AppendUint16(p, Version)
	p = binary.BigEndian.AppendUint16(p, 0)
	p = binary.BigEndian.AppendUint32(p, h.Window)
	p = binary.BigEndian.AppendUint32(p, h.MaxFrameSize)
	p = binary.BigEndian.AppendUint32(p, h.MaxStreams)
	return Frame{Type: FrameHello, Payload: p}
}

func decodeHello(p []byte) Hello {
	return Hello{
		Version:      binary.BigEndian.Uint16(p[4:6]),
		Window:       binary.BigEndian.Uint32(p[8:12]),
		MaxFrameSize: binary.BigEndian.Uint32(p[12:16]),
		MaxStreams:   binary.BigEndian.Uint32(p[16:20]),
	}
}

// Hello decodes a HELLO frame's payload.
func (f Frame) Hello() Hello { return decodeHello(f.Payload) }

// Window returns a WINDOW frame's increment.
func (f Frame) Window() uint32 { return binary.BigEndian.Uint32(f.Payload) }

// Code returns a RESET or GOAWAY frame's error code.
func (f Frame) Code() Code {
	if f.Type == FrameGoAway {
		return Code(binary.BigEndian.Uint32(f.Payload[4:8]))
	}
	return Code(binary.BigEndian.Uint32(f.Payload))
}

// PingData returns a PING frame's opaque data.
func (f Frame) PingData() uint64 { return binary.BigEndian.Uint64(f.Payload) }

// LastStream returns a GOAWAY frame's last stream id: the highest id of a
// stream opened by the receiver that the sender processed.
func (f Frame) LastStream() uint32 { return binary.BigEndian.Uint32(f.Payload) }

// Reason returns a GOAWAY frame's reason text.
func (f Frame) Reason() string { return string(f.Payload[8:]) }

// Frame constructors for the other types. They do not validate their
// arguments: ParseFrame says whether a peer would accept the result.

// OpenFrame returns an OPEN frame for stream id.
func OpenFrame(id uint32) Frame { return Frame{Type: FrameOpen, StreamID: id} }

// DataFrame returns a DATA frame carrying p on stream id.
func DataFrame(id uint32, p []byte) Frame { return Frame{Type: FrameData, StreamID: id, Payload: p} }

// FinFrame returns a FIN frame for stream id.
func FinFrame(id uint32) Frame { return Frame{Type: FrameFin, StreamID: id} }

// ResetFrame returns a RESET frame for stream id.
func ResetFrame(id uint32, c Code) Frame {
	return Frame{Type: FrameReset, StreamID: id, Payload: binary.BigEndian.AppendUint32(nil, uint32(c))}
}

// WindowFrame returns a WINDOW frame granting inc bytes on stream id.
func WindowFrame(id uint32, inc uint32) Frame {
	return Frame{Type: FrameWindow, StreamID: id, Payload: binary.BigEndian.AppendUint32(nil, inc)}
}

// PingFrame returns a PING frame, or its answer when ack is set.
func PingFrame(data uint64, ack bool) Frame {
	f := Frame{Type: FramePing, Payload: binary.BigEndian.AppendUint64(nil, data)}
	if ack {
		f.Flags = FlagAck
	}
	return f
}

// GoAwayFrame returns a GOAWAY frame; reason is cut to MaxGoAwayReason
// bytes.
func GoAwayFrame(last uint32, c Code, reason string) Frame {
	if len(reason) > MaxGoAwayReason {
		reason = reason[:MaxGoAwayReason]
	}
	p := binary.BigEndian.AppendUint32(make([]byte, 0, 8+len(reason)), last)
	p = binary.BigEndian.AppendUint32(p, uint32(c))
	return Frame{Type: FrameGoAway, Payload: append(p, reason...)}
}
