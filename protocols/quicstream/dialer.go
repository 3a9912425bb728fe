package quicstream

import (
	"context"

	"github.com/quic-go/quic-go"

	"github.com/sluice-proxy/sluice/vstream"
)

// Dialer opens streams on an established QUIC connection, so that an
// upstream can be a QUIC stream: it is a vstream.Dialer.
//
// QUIC announces a stream to the peer only with its first frame: a peer
// waiting in AcceptStream sees a dialled stream once something is written
// on it (or it is closed). Server-first protocols need the client to speak
// first, or a protocol byte of their own.
type Dialer struct {
	// Conn is the connection streams are opened on.
	Conn *quic.Conn
}

// DialStream opens a stream on d.Conn, waiting (bounded by ctx) while the
// peer's stream limit is reached. addr is not used.
func (d *Dialer) DialStream(ctx context.Context, addr string) (vstream.Stream, error) {
	s, err := d.Conn.OpenStreamSync(ctx)
	if err != nil {
		return nil, err
	}
	return New(d.Conn, s), nil
}

var _ vstream.Dialer = (*Dialer)(nil)
