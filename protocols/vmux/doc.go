// Package vmux is a small multiplexing protocol: many bidirectional,
// flow-controlled, half-closable streams over one connection. It is
// sluice's worked example of a custom protocol module — a codec that knows
// nothing of proxying, whose streams are vstream.Streams, so that a vmux
// server feeds the same accept loop as a TCP listener and a vmux session
// serves as an upstream dialer.
//
// Typical usage, server side (streams go to anything that serves a
// net.Listener):
//
//	vl := vstream.NewListener(vstream.Addr{Net: "vmux", Name: "edge"}, 64)
//	tcpLn, _ := net.Listen("tcp", ":7000")
//	go vmux.Serve(ctx, tcpLn, vl, vmux.Config{})
//	go proxy.Serve(ctx, vl) // e.g. a tcpproxy.Proxy
//
// and client side:
//
//	conn, _ := net.Dial("tcp", "edge:7000")
//	sess := vmux.Client(conn, vmux.Config{})
//	st, _ := sess.Open(ctx) // a net.Conn with CloseWrite
//
// or, as a proxy's upstream dialer keeping one session per server:
//
//	cfg.Dial = vstream.DialFunc(&vmux.Dialer{}) // streams to the balancer's addresses
//
// # Wire format
//
// Both sides send frames; all integers are big-endian. A frame is a 9-byte
// header and a payload:
//
//	+-----------------------+-----------+-----------+-------------------+
//	| length (24 bits)      | type (8)  | flags (8) | stream id (32)    |
//	+-----------------------+-----------+-----------+-------------------+
//	| payload (length bytes) ...
//
// length is the payload's length. The stream id's high bit is reserved and
// must be 0. Streams opened by the client (the side that dialled) have odd
// ids, streams opened by the server even ids; each side's ids strictly
// increase, so an id is never reused. Id 0 is the session itself. Flags
// not defined for a type must be 0.
//
//	type        id      payload
//	0x0 HELLO   0       20 bytes: "vmux", version uint16 (1), reserved uint16 (0),
//	                    window uint32, max frame size uint32, max streams uint32
//	0x1 OPEN    stream  empty: opens the stream (the id is new and of the sender's parity)
//	0x2 DATA    stream  stream bytes, at most the receiver's max frame size
//	0x3 FIN     stream  empty: the sender's direction of the stream is done
//	0x4 RESET   stream  code uint32: aborts the stream
//	0x5 WINDOW  stream  increment uint32 (1 to 2^31-1): the receiver may send that much more
//	0x6 PING    0       8 opaque bytes; flag ACK (0x1) marks the answer, which echoes them
//	0x7 GOAWAY  0       last stream id uint32, code uint32, reason (at most 1024 bytes of text)
//
// Each side sends HELLO first and nothing else before it; a second HELLO is
// an error. A HELLO's settings bind its receiver: window is the initial
// window of every stream (1 to 2^31-1), max frame size the largest DATA
// payload the sender accepts (1024 to 2^24-1), max streams how many streams
// opened by the receiver the sender keeps open at once.
//
// Flow control is per stream: a side may send on a stream at most the
// window the peer announced plus the WINDOW increments it has received
// since. A receiver grants window back as its user reads, so a stream never
// makes the receiver buffer more than the window; a peer that sends beyond
// it, or grows a window past 2^31-1, breaks the session. There is no
// connection-wide window: what a session buffers is bounded by max streams
// times window (see Memory below).
//
// A stream opened beyond the receiver's max streams, or after the receiver
// sent GOAWAY, is refused with RESET (code 4, refused). FIN half-closes: the
// receiver reads EOF after the data. RESET aborts: the receiver's writes
// fail, and its reads fail too unless it had already received FIN (then it
// reads the data to EOF). Frames for a stream that is done (both FINs
// exchanged, or reset) are ignored; frames for a stream never opened are a
// protocol violation.
//
// GOAWAY with code 0 is graceful: neither side opens new streams, streams
// with ids above last stream id (those of the receiver the sender never
// processed) are refused, and the others go on; the session ends when none
// is left. GOAWAY with another code ends the session at once. A side that
// receives a malformed frame or a protocol violation sends GOAWAY with the
// code and the reason as text, then closes the connection.
//
// Codes: 0 none, 1 protocol, 2 internal, 3 flow control, 4 refused,
// 5 cancel (a stream closed before the peer finished sending), 6 frame
// size, 7 timeout.
//
// # Errors and limits
//
// ParseFrame checks one frame and returns errors wrapping ErrUnknownFrame,
// ErrFlags, ErrStreamID, ErrFrameSize, ErrFrameTooLarge or ErrBadValue. A
// session also ends with ErrProtocol, ErrFlowControl, ErrControlFlood,
// ErrHandshakeTimeout, ErrFrameTimeout or ErrWriteTimeout when the peer
// misbehaves, and with ErrIdleTimeout when it is left unused; Reason turns
// any of these into a metric label, and Config.OnClose reports each
// session's end. A bad peer costs only its own session: memory is bounded
// by the windows and the stream limit, a peer that stops reading is cut off
// by the write timeout, one that stops sending by the time limits below,
// and the read side never waits on the write side.
//
// # Memory
//
// What a peer can make a session hold is its streams' receive buffers:
// each grows as data arrives, up to the stream's window, and is freed when
// the stream is closed, reset or read to EOF. A stream's initial window is
// granted by HELLO the moment the stream opens and cannot be taken back,
// so the bound is Config.MaxStreams × Config.Window: 128 × 64 KiB = 8 MiB
// per session with the defaults, plus a 64 KiB read buffer. A proxy whose
// upstream hangs reads none of a stream's data, so a peer can fill every
// window it is given: size the two for the number of connections
// expected. Stats.Buffered reports a session's receive buffers and
// BufferedBytes the whole process's, for a metrics gauge.
//
// # Time limits
//
// A peer cannot hold a session, its two goroutines and its buffers without
// doing its part. The Config limits, with their defaults:
//
//	HandshakeTimeout  10s  the peer's HELLO arrives whole within it of the session's start
//	FrameTimeout      30s  a frame arrives whole within it of its first byte
//	IdleTimeout       5m   a session with no stream open and no frame sent or
//	                       received for this long ends: GOAWAY (code 0, reason "idle")
//	WriteTimeout      30s  each write to the connection finishes within it
//
// Quiet streams are not bounded here: an open stream keeps its session, and
// how long a stream may stay silent is its user's business (stream
// deadlines, or a proxy's idle timeout). The read-side limits use the
// connection's read deadline, which the session owns (do not set it), and
// no timer of their own: after the handshake the deadline is a check-up
// that, when it expires, looks at what moved since the last one and either
// ends the session or is armed again. Nothing is done per frame, and a busy
// session pays one SetReadDeadline per FrameTimeout. The connection must
// allow reads after a read deadline has passed, as sockets, TLS, vstream
// pipes and vmux streams do.
package vmux
