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
	// Buffered is the memory, in bytes, that the session's streams hold
	// now for received data: their receive buffers, grown as data arrives
	// and kept until the stream is closed, reset or read to EOF. Flow
	// control bounds it by Window per stream the peer opened or this side
	// opened, so by (MaxStreams + streams opened here) × Window.
	Buffered int64
}

// counters are a Session's live Stats.
type counters struct {
	opened, accepted, refused  atomic.Uint64
	resetsSent, resetsReceived atomic.Uint64
	bytesSent, bytesReceived   atomic.Uint64
	framesSent, framesReceived atomic.Uint64
	buffered                   atomic.Int64
}

// buffered is the memory all sessions' streams hold for received data.
var buffered atomic.Int64

// BufferedBytes returns the memory, in bytes, that the streams of every
// Session in the process hold now for received data (the sum of their
// Stats.Buffered): a gauge for metrics, e.g.
//
//	prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "sluice_vmux_buffered_bytes"},
//		func() float64 { return float64(vmux.BufferedBytes()) })
func BufferedBytes() int64 { return buffered.Load() }

// addBuffered counts n more bytes (fewer when negative) of receive buffer
// held by s's streams.
func (s *Session) addBuffered(n int) {
	s.counters.buffered.Add(int64(n))
	buffered.Add(int64(n))
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
		Buffered:      c.buffered.Load(),
	}
}
