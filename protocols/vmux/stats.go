package vmux

import "sync/atomic"

// Stats is a snapshot of a Session's counters.
type Stats struct {
	// StreamsOpened counts streams this side opened; StreamsAccepted
	// those the peer opened that were admitted (queued for Accept);
	// StreamsRefused those the peer opened that were refused (over
	// MaxStreams, or after GOAWAY).
	StreamsOpened, StreamsAccepted, StreamsRefused uint64
	// ResetsSent and ResetsReceived count RESET frames.
	ResetsSent, ResetsReceived uint64
	// BytesSent and BytesReceived count DATA payload bytes.
	BytesSent, BytesReceived uint64
	// FramesSent and FramesReceived count frames of every type.
	FramesSent, FramesReceived uint64
	// ActiveStreams is the number of streams open now.
	ActiveStreams int
}

// counters are a Session's live Stats.
type counters struct {
	opened, accepted, refused  atomic.Uint64
	resetsSent, resetsReceived atomic.Uint64
	bytesSent, bytesReceived   atomic.Uint64
	framesSent, framesReceived atomic.Uint64
}

// Stats returns a snapshot of the session's counters.
func (s *Session) Stats() Stats {
	s.mu.Lock()
	active := len(s.streams)
	s.mu.Unlock()
	c := &s.counters
	return Stats{
		StreamsOpened: c.opened.Load(), StreamsAccepted: c.accepted.Load(), StreamsRefused: c.refused.Load(),
		ResetsSent: c.resetsSent.Load(), ResetsReceived: c.resetsReceived.Load(),
		BytesSent: c.bytesSent.Load(), BytesReceived: c.bytesReceived.Load(),
		FramesSent: c.framesSent.Load(), FramesReceived: c.framesReceived.Load(),
		ActiveStreams: active,
	}
}
