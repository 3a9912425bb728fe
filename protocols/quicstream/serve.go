package quicstream

import (
	"context"
	"errors"
	"sync"
	"time"

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
// Serve stops accepting when ln fails or is closed, when vl is closed, or
// when ctx ends. It then closes ln and each connection: when ctx ended, at
// once; otherwise once the streams it delivered from that connection have
// been closed (a graceful drain: the consumer of vl, e.g. tcpproxy's
// Shutdown, decides how long that takes), or the peer closed it. Serve
// returns when every connection is closed: ctx's error when ctx ended, nil
// otherwise, or ln's error when accepting failed.
//
// The Digest of each delivered stream has HandshakeTime set to when Serve
// accepted its connection: a quic.Listener returns connections once their
// handshake has completed, so that is the completion time, late by at most
// the time the connection waited in quic-go's accept queue.
func Serve(ctx context.Context, ln *quic.Listener, vl *vstream.Listener) error {
	accepting, stopAccepting := context.WithCancel(ctx)
	defer stopAccepting()
	go func() {
		select {
		case <-vl.Done():
			stopAccepting()
		case <-accepting.Done():
		}
	}()
	var wg sync.WaitGroup
	defer wg.Wait()
	defer ln.Close()
	for {
		conn, err := ln.Accept(accepting)
		accepted := time.Now()
		if err != nil {
			switch {
			case ctx.Err() != nil:
				return ctx.Err()
			case accepting.Err() != nil, errors.Is(err, quic.ErrServerClosed):
				return nil
			}
			return err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			serveConn(ctx, accepting, conn, accepted, vl)
		}()
	}
}

// serveConn is the goroutine of one connection: it hands the connection's
// streams to vl until accepting ends, then waits for the delivered ones to
// be closed (or ctx to end) and closes the connection. handshake is when
// the connection was accepted, its handshake complete.
func serveConn(ctx, accepting context.Context, conn *quic.Conn, handshake time.Time, vl *vstream.Listener) {
	defer conn.CloseWithError(0, "")
	var open sync.WaitGroup // delivered streams not yet closed
	for {
		s, err := conn.AcceptStream(accepting)
		if err != nil {
			break
		}
		st := New(conn, s)
		if st.digest.TLS != nil {
			st.digest.HandshakeTime = handshake
		}
		open.Add(1)
		st.onClose = open.Done
		if err := vl.Deliver(accepting, st); err != nil {
			st.onClose = nil
			open.Done()
			s.CancelRead(CodeCancel)
			s.CancelWrite(CodeCancel)
			break
		}
	}
	drained := make(chan struct{})
	go func() {
		open.Wait()
		close(drained)
	}()
	select {
	case <-drained:
	case <-conn.Context().Done():
	case <-ctx.Done():
	}
}
