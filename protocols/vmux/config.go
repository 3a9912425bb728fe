package vmux

import "time"

// Defaults for the zero Config. DefaultMaxStreams × DefaultWindow bounds
// what one session buffers for its peer's streams to 8 MiB, the figures
// HTTP/2 deployments settled on (a 64 KiB initial window, about a hundred
// concurrent streams).
const (
	// DefaultWindow is a stream's receive window: 64 KiB, enough to keep a
	// stream busy on a LAN or loopback path; raise Config.Window for
	// long, fast paths (throughput per stream is at most Window per round
	// trip).
	DefaultWindow = 64 << 10
	// DefaultMaxFrameSize is the largest DATA payload accepted: 32 KiB.
	DefaultMaxFrameSize = 32 << 10
	// DefaultMaxStreams is how many streams the peer may have open at
	// once: 128.
	DefaultMaxStreams = 128
	// DefaultWriteTimeout bounds one write to the connection.
	DefaultWriteTimeout = 30 * time.Second
	// DefaultHandshakeTimeout bounds the wait for the peer's HELLO.
	DefaultHandshakeTimeout = 10 * time.Second
	// DefaultIdleTimeout ends a session left unused this long.
	DefaultIdleTimeout = 5 * time.Minute
	// DefaultFrameTimeout bounds the arrival of one frame, from its first
	// byte.
	DefaultFrameTimeout = 30 * time.Second
)

// MinWindow is the smallest receive window a Config may set; smaller
// values are raised to it.
const MinWindow = 1 << 10

// Config configures a Session. The zero value gives the defaults. Both
// sides announce their own settings in HELLO, so the two Configs need not
// match.
type Config struct {
	// Window is the receive window of each stream: how many bytes the
	// peer may send on a stream before this side has read them. It bounds
	// what one stream can make this side buffer. 0 means DefaultWindow
	// (64 KiB); values are clamped to MinWindow (1 KiB)..MaxWindow.
	Window int
	// MaxFrameSize is the largest DATA payload accepted from the peer.
	// 0 means DefaultMaxFrameSize (32 KiB); values are clamped to
	// MinFrameSize..MaxFrameSizeLimit.
	MaxFrameSize int
	// MaxStreams is how many streams opened by the peer may be open at
	// once; more are refused with RESET(refused). 0 means
	// DefaultMaxStreams (128); negative means none (the peer cannot open
	// streams). Memory buffered for the peer's streams is bounded by
	// MaxStreams × Window (8 MiB with the defaults): each stream's
	// initial window is granted by HELLO as the stream opens and cannot be
	// taken back, so these two are the bound, and Stats.Buffered shows
	// what is held.
	MaxStreams int
	// WriteTimeout bounds one write to the connection: a peer that stops
	// reading ends the session with ErrWriteTimeout instead of blocking
	// writers forever. 0 means DefaultWriteTimeout; negative means none.
	WriteTimeout time.Duration
	// HandshakeTimeout bounds the wait for the peer's HELLO, from the
	// session's start: a peer that sends nothing, or part of a HELLO, ends
	// the session with ErrHandshakeTimeout. 0 means
	// DefaultHandshakeTimeout (10s); negative means none.
	HandshakeTimeout time.Duration
	// IdleTimeout ends a session that has had no stream open and has sent
	// and received no frame for this long: it sends GOAWAY (code none,
	// reason "idle") and ends with ErrIdleTimeout. Open streams keep a
	// session, however quiet they are, and so does a peer that PINGs. The
	// end comes at most one check-up (FrameTimeout, or IdleTimeout when
	// that is off) after the limit is reached. 0 means
	// DefaultIdleTimeout (5 minutes); negative means never.
	//
	// A stream the peer opens while the GOAWAY is on its way fails on the
	// peer's side, as a request on a closing keep-alive connection does:
	// a client that keeps sessions (Dialer) should use a shorter
	// IdleTimeout than its server, so that it ends idle sessions first.
	IdleTimeout time.Duration
	// FrameTimeout bounds how long a frame takes to arrive once its first
	// byte has: a peer that stops inside a frame (half a header, a header
	// without its payload) ends the session with ErrFrameTimeout and a
	// GOAWAY of code timeout, noticed between FrameTimeout and twice that.
	// It bounds a whole frame, so a MaxFrameSize far above the default
	// needs a FrameTimeout that a full frame at the slowest expected rate
	// fits in. 0 means DefaultFrameTimeout (30s); negative means none.
	FrameTimeout time.Duration
	// OnClose, when set, is called once when the session ends, with the
	// reason (see Session.Err and Reason); a hook for metrics and logs.
	// It runs on the session's goroutine and must not block.
	OnClose func(s *Session, err error)
}

// withDefaults returns c with every zero field set to its default and
// every value in range.
func (c Config) withDefaults() Config {
	if c.Window == 0 {
		c.Window = DefaultWindow
	}
	c.Window = clamp(c.Window, MinWindow, MaxWindow)
	if c.MaxFrameSize == 0 {
		c.MaxFrameSize = DefaultMaxFrameSize
	}
	c.MaxFrameSize = clamp(c.MaxFrameSize, MinFrameSize, MaxFrameSizeLimit)
	switch {
	case c.MaxStreams == 0:
		c.MaxStreams = DefaultMaxStreams
	case c.MaxStreams < 0:
		c.MaxStreams = 0
	}
	c.MaxStreams = min(c.MaxStreams, 1<<30)
	if c.WriteTimeout == 0 {
		c.WriteTimeout = DefaultWriteTimeout
	}
	if c.HandshakeTimeout == 0 {
		c.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
	if c.FrameTimeout == 0 {
		c.FrameTimeout = DefaultFrameTimeout
	}
	return c
}
