package quicstream

import (
	"context"
	"errors"
	"sync"

	"github.com/quic-go/quic-go"

	"github.com/sluice-proxy/sluice/vstream"
)

// Serve accepts QUIC connections from ln and the bidirectional streams
// their peers open, and delivers each stream, as a *Stream, to vl: whatever
// serves vl (tcpproxy, any accept loop) gets QUIC streams as it gets
// sockets. A stream waits while vl's backlog is full, so a slow consumer
// slows the peers (QUIC's stream limits hold them back) rather than piling
// streams up.
//
// Serve returns when ln fails or is closed (nil then), when vl is closed,
// or when ctx ends (ctx's error). On return it closes ln and every
// connection it accepted (CloseWithError with code 0), and has waited for
// its goroutines.
func Serve(ctx context.Context, ln *quic.Listener, vl *vstream.Listener) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-vl.Done():
			cancel()
		case <-ctx.Done():
		}
	}()
	var wg sync.WaitGroup
	defer wg.Wait()
	defer ln.Close()
	for {
		conn, err := ln.Accept(ctx)
		if err != nil {
			if ctx.Err() != nil {
				select {
				case <-vl.Done():
					return nil
				default:
				}
				return ctx.Err()
			}
			if errors.Is(err, quic.ErrServerClosed) {
				return nil
			}
			return err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			deliverStreams(ctx, conn, vl)
		}()
	}
}

// deliverStreams is the goroutine that hands one connection's streams to
// vl until the connection, vl or ctx ends.
func deliverStreams(ctx context.Context, conn *quic.Conn, vl *vstream.Listener) {
	defer conn.CloseWithError(0, "")
	for {
		s, err := conn.AcceptStream(ctx)
		if err != nil {
			return
		}
		st := New(conn, s)
		if err := vl.Deliver(ctx, st); err != nil {
			s.CancelRead(CodeCancel)
			s.CancelWrite(CodeCancel)
			return
		}
	}
}
