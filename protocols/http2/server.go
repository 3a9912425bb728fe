// Package http2 is sluice's HTTP/2 server connection: its own loop on
// golang.org/x/net/http2's Framer and hpack (the parts of x/net meant for
// reuse, as gRPC-go's transport uses them), so that every stream can enter
// the same proxy pipeline as an HTTP/1 request.
//
// One goroutine reads frames (the caller's, in Serve) and owns the
// connection's state; one writer goroutine owns the socket's write side and
// the HPACK encoder, and writes the frames queued to it in batches,
// flushing once the queue is empty; each stream's Handler runs on a
// goroutine of its own. The limits every h2 server has needed are built in:
// concurrent streams, flow-control windows, the decoded header list (across
// CONTINUATION frames), rapid reset, SETTINGS and PING floods.
//
// It knows nothing of proxying: a Handler sees a request's header fields
// and body, and answers with header fields, body and trailers.
package http2

import (
	"errors"
	"time"
)

// Defaults of Limits' zero fields.
const (
	DefaultMaxConcurrentStreams = 100
	DefaultStreamWindow         = 256 << 10
	DefaultConnWindow           = 1 << 20
	DefaultMaxFrameSize         = 16 << 10
	DefaultMaxHeaderListSize    = 64 << 10
	DefaultMaxResetsPerSecond   = 100
	DefaultMaxControlPerSecond  = 100
	DefaultSettingsTimeout      = 10 * time.Second
	DefaultIdleTimeout          = 60 * time.Second
)

// Limits bound what one client connection may make the server do. A zero
// field means its default.
type Limits struct {
	// MaxConcurrentStreams is advertised and enforced: a HEADERS opening
	// one stream more is refused with RST_STREAM(REFUSED_STREAM).
	MaxConcurrentStreams uint32
	// StreamWindow is each stream's receive window: a client may send that
	// much of a body before the Handler reads it.
	StreamWindow uint32
	// ConnWindow is the connection's receive window across streams.
	ConnWindow uint32
	// MaxFrameSize is the largest frame payload accepted (16 KiB to
	// 16 MiB - 1).
	MaxFrameSize uint32
	// MaxHeaderListSize bounds a decoded header list, across
	// CONTINUATION frames (HPACK bombs, CONTINUATION floods): past it the
	// connection ends with GOAWAY.
	MaxHeaderListSize uint32
	// MaxResetsPerSecond bounds the streams a client may cancel per
	// second (RST_STREAM; rapid reset, CVE-2023-44487), averaged with a
	// burst of one second's worth: past it, GOAWAY(ENHANCE_YOUR_CALM).
	MaxResetsPerSecond int
	// MaxControlPerSecond bounds SETTINGS and PING frames per second, as
	// MaxResetsPerSecond does resets.
	MaxControlPerSecond int
	// SettingsTimeout bounds the wait for the client's preface and first
	// SETTINGS.
	SettingsTimeout time.Duration
	// IdleTimeout ends a connection with no stream open and no frame from
	// the client for this long (GOAWAY NO_ERROR); 0 means
	// DefaultIdleTimeout, negative never.
	IdleTimeout time.Duration
	// ExtendedConnect advertises SETTINGS_ENABLE_CONNECT_PROTOCOL and
	// accepts CONNECT with :protocol (RFC 8441: WebSocket over HTTP/2);
	// without it a :protocol is a stream error.
	ExtendedConnect bool
}

func (l Limits) withDefaults() Limits {
	if l.MaxConcurrentStreams == 0 {
		l.MaxConcurrentStreams = DefaultMaxConcurrentStreams
	}
	if l.StreamWindow == 0 {
		l.StreamWindow = DefaultStreamWindow
	}
	if l.ConnWindow == 0 {
		l.ConnWindow = DefaultConnWindow
	}
	l.ConnWindow = max(l.ConnWindow, 65535)
	if l.MaxFrameSize == 0 {
		l.MaxFrameSize = DefaultMaxFrameSize
	}
	l.MaxFrameSize = min(max(l.MaxFrameSize, 1<<14), 1<<24-1)
	if l.MaxHeaderListSize == 0 {
		l.MaxHeaderListSize = DefaultMaxHeaderListSize
	}
	if l.MaxResetsPerSecond == 0 {
		l.MaxResetsPerSecond = DefaultMaxResetsPerSecond
	}
	if l.MaxControlPerSecond == 0 {
		l.MaxControlPerSecond = DefaultMaxControlPerSecond
	}
	if l.SettingsTimeout == 0 {
		l.SettingsTimeout = DefaultSettingsTimeout
	}
	if l.IdleTimeout == 0 {
		l.IdleTimeout = DefaultIdleTimeout
	}
	return l
}

// Errors Serve ends with, matched with errors.Is.
var (
	// ErrPreface: the client did not start with the HTTP/2 preface.
	ErrPreface = errors.New("http2: bad client preface")
	// ErrProtocol: the client broke the protocol (GOAWAY PROTOCOL_ERROR,
	// FRAME_SIZE_ERROR, FLOW_CONTROL_ERROR or COMPRESSION_ERROR sent).
	ErrProtocol = errors.New("http2: protocol error from the client")
	// ErrCalm: the client exceeded a rate limit (GOAWAY
	// ENHANCE_YOUR_CALM sent).
	ErrCalm = errors.New("http2: client exceeded a limit")
)

// rate is a token bucket of perSecond with a burst of one second.
type rate struct {
	perSecond float64
	tokens    float64
	last      time.Time
}

// take reports whether one more event fits.
func (r *rate) take(now time.Time) bool {
	if r.last.IsZero() {
		r.tokens, r.last = r.perSecond, now
	}
	r.tokens = min(r.perSecond, r.tokens+now.Sub(r.last).Seconds()*r.perSecond)
	r.last = now
	if r.tokens < 1 {
		return false
	}
	r.tokens--
	return true
}
