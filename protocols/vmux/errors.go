package vmux

import (
	"errors"
	"fmt"
)

// Errors for malformed frames. ParseFrame and a session reading frames
// return errors wrapping exactly one of them; a session that reads one
// ends with it (see Session.Err) after sending GOAWAY with the matching
// Code.
var (
	// ErrUnknownFrame: the frame type is not one of those defined.
	ErrUnknownFrame = errors.New("vmux: unknown frame type")
	// ErrFlags: a flag bit is set that the frame type does not define.
	ErrFlags = errors.New("vmux: undefined flags for the frame type")
	// ErrStreamID: a stream id is zero where a stream is needed, not zero
	// where none is, has its reserved high bit set, has the wrong parity
	// for the side that opened it, or does not increase (reused).
	ErrStreamID = errors.New("vmux: invalid stream id")
	// ErrFrameSize: a frame's payload length is wrong for its type.
	ErrFrameSize = errors.New("vmux: bad frame payload length")
	// ErrFrameTooLarge: a frame's payload is larger than the receiver's
	// maximum frame size.
	ErrFrameTooLarge = errors.New("vmux: frame larger than the maximum frame size")
	// ErrBadValue: a field holds a value its frame type forbids (a zero or
	// oversized window increment, a bad HELLO magic, version or setting).
	ErrBadValue = errors.New("vmux: bad frame field")
)

// Errors for protocol violations that only a session can see, and for
// the ends of sessions and streams.
var (
	// ErrProtocol: a well-formed frame that is wrong where it is: no HELLO
	// first, a second HELLO, data after FIN, a frame for a stream that was
	// never opened.
	ErrProtocol = errors.New("vmux: protocol violation")
	// ErrFlowControl: the peer sent more than the stream's window allows,
	// or grew a window past 2^31-1.
	ErrFlowControl = errors.New("vmux: flow control violation")
	// ErrControlFlood: the peer makes us queue more control frames (PING
	// answers, refusals) than it reads.
	ErrControlFlood = errors.New("vmux: too many control frames queued; peer not reading")
	// ErrHandshakeTimeout: the peer's HELLO did not arrive within
	// Config.HandshakeTimeout.
	ErrHandshakeTimeout = errors.New("vmux: handshake timed out")
	// ErrIdleTimeout: the session had no stream open and sent or received
	// no frame for Config.IdleTimeout, so this side ended it (with a
	// GOAWAY of code none and reason "idle").
	ErrIdleTimeout = errors.New("vmux: session idle")
	// ErrFrameTimeout: a frame the peer began did not arrive whole within
	// Config.FrameTimeout.
	ErrFrameTimeout = errors.New("vmux: frame timed out; peer stalled inside a frame")
	// ErrWriteTimeout: a write to the connection did not finish within
	// Config.WriteTimeout: the peer stopped reading.
	ErrWriteTimeout = errors.New("vmux: write timed out; peer not reading")
	// ErrSessionClosed: the session was closed by this side (Close,
	// Shutdown, or the end of a GOAWAY drain).
	ErrSessionClosed = errors.New("vmux: session closed")
	// ErrPeerClosed: the peer closed the connection between frames.
	ErrPeerClosed = errors.New("vmux: connection closed by peer")
	// ErrGoAway: no new streams can be opened on the session, because
	// either side sent GOAWAY. A GoAwayError with a non-zero Code also
	// matches it.
	ErrGoAway = errors.New("vmux: session going away")
	// ErrTooManyStreams: Open would exceed the peer's stream limit, or the
	// stream ids are used up.
	ErrTooManyStreams = errors.New("vmux: too many streams")
	// ErrStreamReset: the stream was reset; the error is a *ResetError.
	ErrStreamReset = errors.New("vmux: stream reset")
)

// Code is an error code carried by RESET and GOAWAY frames.
type Code uint32

// Codes defined by the protocol. Unknown codes are passed on as they are.
const (
	CodeNone        Code = 0 // no error: a graceful GOAWAY
	CodeProtocol    Code = 1 // a protocol violation or malformed frame
	CodeInternal    Code = 2 // an implementation fault
	CodeFlowControl Code = 3 // a window overrun
	CodeRefused     Code = 4 // stream refused: over the stream limit or after GOAWAY; safe to retry
	CodeCancel      Code = 5 // the stream's user closed it before the end of the peer's data
	CodeFrameSize   Code = 6 // a frame of the wrong size
	CodeTimeout     Code = 7 // the peer was too slow
)

func (c Code) String() string {
	switch c {
	case CodeNone:
		return "none"
	case CodeProtocol:
		return "protocol"
	case CodeInternal:
		return "internal"
	case CodeFlowControl:
		return "flow_control"
	case CodeRefused:
		return "refused"
	case CodeCancel:
		return "cancel"
	case CodeFrameSize:
		return "frame_size"
	case CodeTimeout:
		return "timeout"
	}
	return fmt.Sprintf("code_%d", uint32(c))
}

// ResetError is the error of an operation on a reset stream.
type ResetError struct {
	// Code is the RESET frame's code.
	Code Code
	// Remote is true when the peer sent the RESET, false when this side
	// did (Stream.Reset, or a refusal).
	Remote bool
}

func (e *ResetError) Error() string {
	who := "locally"
	if e.Remote {
		who = "by peer"
	}
	return fmt.Sprintf("vmux: stream reset %s: %s", who, e.Code)
}

// Is makes a ResetError match ErrStreamReset.
func (e *ResetError) Is(target error) bool { return target == ErrStreamReset }

// GoAwayError is the end of a session the peer closed with a GOAWAY
// carrying an error code.
type GoAwayError struct {
	// Code and Reason are the GOAWAY frame's.
	Code   Code
	Reason string
}

func (e *GoAwayError) Error() string {
	if e.Reason == "" {
		return fmt.Sprintf("vmux: peer sent GOAWAY: %s", e.Code)
	}
	return fmt.Sprintf("vmux: peer sent GOAWAY: %s: %s", e.Code, e.Reason)
}

// Is makes a GoAwayError match ErrGoAway.
func (e *GoAwayError) Is(target error) bool { return target == ErrGoAway }

// codeOf maps an error that ends a session to the GOAWAY code sent for it.
func codeOf(err error) Code {
	switch {
	case errors.Is(err, ErrFrameSize), errors.Is(err, ErrFrameTooLarge):
		return CodeFrameSize
	case errors.Is(err, ErrFlowControl):
		return CodeFlowControl
	case errors.Is(err, ErrUnknownFrame), errors.Is(err, ErrFlags), errors.Is(err, ErrStreamID),
		errors.Is(err, ErrBadValue), errors.Is(err, ErrProtocol), errors.Is(err, ErrControlFlood):
		return CodeProtocol
	case errors.Is(err, ErrHandshakeTimeout), errors.Is(err, ErrWriteTimeout), errors.Is(err, ErrFrameTimeout):
		return CodeTimeout
	case errors.Is(err, ErrSessionClosed), errors.Is(err, ErrIdleTimeout):
		return CodeNone
	}
	return CodeInternal
}

// Reason names the cause of a session's end for a metric label: "closed"
// (this side closed it), "peer_closed", "goaway" (the peer ended it with an
// error code), "protocol", "frame_size", "flow_control", "flood",
// "handshake_timeout", "write_timeout", "frame_timeout", "idle" (this side
// ended it after Config.IdleTimeout), or "io" for a connection error.
func Reason(err error) string {
	var ga *GoAwayError
	switch {
	case err == nil:
		return ""
	case errors.Is(err, ErrSessionClosed):
		return "closed"
	case errors.Is(err, ErrPeerClosed):
		return "peer_closed"
	case errors.As(err, &ga):
		return "goaway"
	case errors.Is(err, ErrFrameSize), errors.Is(err, ErrFrameTooLarge):
		return "frame_size"
	case errors.Is(err, ErrFlowControl):
		return "flow_control"
	case errors.Is(err, ErrControlFlood):
		return "flood"
	case errors.Is(err, ErrUnknownFrame), errors.Is(err, ErrFlags), errors.Is(err, ErrStreamID),
		errors.Is(err, ErrBadValue), errors.Is(err, ErrProtocol):
		return "protocol"
	case errors.Is(err, ErrHandshakeTimeout):
		return "handshake_timeout"
	case errors.Is(err, ErrWriteTimeout):
		return "write_timeout"
	case errors.Is(err, ErrFrameTimeout):
		return "frame_timeout"
	case errors.Is(err, ErrIdleTimeout):
		return "idle"
	}
	return "io"
}
