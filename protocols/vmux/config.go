package vmux

import "time"

// Defaults for the zero Config.
const (
	DefaultWindow           = 256 << 10
	DefaultMaxFrameSize     = 32 << 10
	DefaultMaxStreams       = 1024
	DefaultWriteTimeout     = 30 * time.Second
	DefaultHandshakeTimeout = 10 * time.Second
)

// Config configures a Session. The zero value gives the defaults. Both
// sides announce their own settings in HELLO, so the two Configs need not
// match.
type Config struct {
	// Window is the receive window of each stream: how many bytes the
	// peer may send on a stream before this side has read them. It bounds
	// what one stream can make this side buffer. 0 means DefaultWindow
	// (256 KiB); values are clamped to 1 KiB..MaxWindow.
	Window int
	// MaxFrameSize is the largest DATA payload accepted from the peer.
	// 0 means DefaultMaxFrameSize (32 KiB); values are clamped to
	// MinFrameSize..MaxFrameSizeLimit.
	MaxFrameSize int
	// MaxStreams is how many streams opened by the peer may be open at
	// once; more are refused with RESET(refused). 0 means
	// DefaultMaxStreams; negative means none (the peer cannot open
	// streams). Memory buffered for the peer's streams is bounded by
	// MaxStreams × Window.
	MaxStreams int
	// WriteTimeout bounds one write to the connection: a peer that stops
	// reading ends the session with ErrWriteTimeout instead of blocking
	// writers forever. 0 means DefaultWriteTimeout; negative means none.
	WriteTimeout time.Duration
	// HandshakeTimeout bounds the wait for the peer's HELLO. 0 means
	// DefaultHandshakeTimeout; negative means none.
	HandshakeTimeout time.Duration
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
	c.Window = clamp(c.Window, 1024, MaxWindow)
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
	return c
}
