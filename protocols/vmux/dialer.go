package vmux

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"

	"github.com/sluice-proxy/sluice/vstream"
)

// Dialer opens vmux streams to servers by address, keeping one client
// session per address and dialling a new one when it has ended or gone
// away. It is a vstream.Dialer, so an upstream can be "a stream to that
// vmux server":
//
//	d := &vmux.Dialer{}
//	defer d.Close()
//	cfg.Dial = vstream.DialFunc(d) // tcpproxy.Config, lb.DialFunc
//
// The zero Dialer dials TCP with default settings. A Dialer is safe for
// concurrent use.
type Dialer struct {
	// Config configures the sessions.
	Config Config
	// Dial makes the connection a session runs on; nil dials TCP with a
	// zero net.Dialer.
	Dial func(ctx context.Context, addr string) (net.Conn, error)

	mu       sync.Mutex
	sessions map[string]*dialEntry
	closed   bool
}

// dialEntry is the session for one address, or the dial making it.
type dialEntry struct {
	ready chan struct{} // closed when sess or err is set
	sess  *Session
	err   error
}

// DialStream opens a stream on the session to addr, dialling the session
// first when there is none or it can open no more streams (it ended, or a
// GOAWAY was sent or received).
func (d *Dialer) DialStream(ctx context.Context, addr string) (vstream.Stream, error) {
	for attempt := 0; ; attempt++ {
		s, err := d.session(ctx, addr)
		if err != nil {
			return nil, err
		}
		st, err := s.Open(ctx)
		if err == nil {
			return st, nil
		}
		stale := errors.Is(err, ErrGoAway) || s.Err() != nil
		if !stale || attempt > 0 {
			return nil, fmt.Errorf("vmux: dial %s: %w", addr, err)
		}
		d.forget(addr, s)
	}
}

// session returns the live session to addr, dialling it if needed.
func (d *Dialer) session(ctx context.Context, addr string) (*Session, error) {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil, fmt.Errorf("vmux: dial %s: %w", addr, net.ErrClosed)
	}
	if d.sessions == nil {
		d.sessions = map[string]*dialEntry{}
	}
	e := d.sessions[addr]
	if e == nil {
		e = &dialEntry{ready: make(chan struct{})}
		d.sessions[addr] = e
		d.mu.Unlock()
		d.connect(ctx, addr, e)
	} else {
		d.mu.Unlock()
	}
	select {
	case <-e.ready:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if e.err != nil {
		return nil, e.err
	}
	return e.sess, nil
}

// connect dials the session of e. A failed dial is forgotten at once, so
// the next DialStream tries again.
func (d *Dialer) connect(ctx context.Context, addr string, e *dialEntry) {
	dial := d.Dial
	if dial == nil {
		var nd net.Dialer
		dial = func(ctx context.Context, addr string) (net.Conn, error) { return nd.DialContext(ctx, "tcp", addr) }
	}
	c, err := dial(ctx, addr)
	if err != nil {
		e.err = fmt.Errorf("vmux: dial %s: %w", addr, err)
		d.mu.Lock()
		if d.sessions[addr] == e {
			delete(d.sessions, addr)
		}
		d.mu.Unlock()
		close(e.ready)
		return
	}
	sess := Client(c, d.Config)
	d.mu.Lock() // forget reads e.sess under d.mu
	e.sess = sess
	closed := d.closed
	d.mu.Unlock()
	if closed {
		sess.Close()
	}
	close(e.ready)
	// Forget the session when it ends, so that it is not kept in memory.
	go func() {
		<-sess.Done()
		d.forget(addr, sess)
	}()
}

// forget drops the session to addr if it is s.
func (d *Dialer) forget(addr string, s *Session) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if e := d.sessions[addr]; e != nil && e.sess == s {
		delete(d.sessions, addr)
	}
}

// Close closes every session and makes later dials fail.
func (d *Dialer) Close() error {
	d.mu.Lock()
	d.closed = true
	entries := d.sessions
	d.sessions = nil
	d.mu.Unlock()
	for _, e := range entries {
		<-e.ready
		if e.sess != nil {
			e.sess.Close()
		}
	}
	return nil
}

var _ vstream.Dialer = (*Dialer)(nil)
