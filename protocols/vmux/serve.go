package vmux

import (
	"context"
	"errors"
	"net"
	"sync"
	"syscall"
	"time"

	"github.com/sluice-proxy/sluice/vstream"
)

// Serve accepts connections on ln, runs a server Session on each, and
// delivers every stream the peers open to vl, so that whatever serves vl
// (tcpproxy, any accept loop) gets vmux streams as it gets sockets. A
// stream waits in its session while vl's backlog is full: a slow consumer
// slows the peers down rather than piling streams up.
//
// Serve returns when ln fails for good or is closed (nil for net.ErrClosed;
// running out of descriptors or memory only pauses accepting), when vl is
// closed, or when ctx ends. Then it closes ln, and:
//   - when ctx ended, it closes every session at once;
//   - otherwise it sends GOAWAY on every session, so peers open no new
//     streams, and waits until their open streams are done.
//
// Serve returns only once all its sessions have ended. Each session's end
// goes to cfg.OnClose.
func Serve(ctx context.Context, ln net.Listener, vl *vstream.Listener, cfg Config) error {
	srv := &server{ln: ln, vl: vl, cfg: cfg, sessions: map[*Session]struct{}{}}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stopLn := context.AfterFunc(ctx, func() { ln.Close() })
	defer stopLn()
	go func() {
		select {
		case <-vl.Done():
			ln.Close()
		case <-ctx.Done():
		}
	}()
	err := srv.acceptLoop(ctx)
	ln.Close()
	srv.drain(ctx)
	return err
}

// server is the state of one Serve.
type server struct {
	ln  net.Listener
	vl  *vstream.Listener
	cfg Config

	mu       sync.Mutex
	sessions map[*Session]struct{}
	stopping bool
	wg       sync.WaitGroup
}

// Back-off bounds after a temporary accept error.
const (
	minAcceptBackoff = 5 * time.Millisecond
	maxAcceptBackoff = time.Second
)

// acceptLoop accepts connections until ln fails for good. Running out of
// descriptors or memory is waited out with a growing pause.
func (srv *server) acceptLoop(ctx context.Context) error {
	var delay time.Duration
	for {
		c, err := srv.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) || ctx.Err() != nil {
				return nil
			}
			if !temporary(err) {
				return err
			}
			delay = min(max(2*delay, minAcceptBackoff), maxAcceptBackoff)
			t := time.NewTimer(delay)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return nil
			}
			continue
		}
		delay = 0
		sess := Server(c, srv.cfg)
		srv.mu.Lock()
		if srv.stopping {
			srv.mu.Unlock()
			sess.Close()
			continue
		}
		srv.sessions[sess] = struct{}{}
		srv.wg.Add(1)
		srv.mu.Unlock()
		go srv.deliverStreams(ctx, sess)
	}
}

// temporary reports whether an accept error is worth retrying: a lack of
// descriptors, buffers or memory, an aborted connection, or an error that
// says so itself.
func temporary(err error) bool {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		switch errno {
		case syscall.EMFILE, syscall.ENFILE, syscall.ENOBUFS, syscall.ENOMEM, syscall.ECONNABORTED, syscall.EINTR, syscall.EAGAIN:
			return true
		}
	}
	var t interface{ Temporary() bool }
	if errors.As(err, &t) && t.Temporary() {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// deliverStreams is the goroutine that hands one session's streams to the
// vstream.Listener until the session or the listener ends.
func (srv *server) deliverStreams(ctx context.Context, sess *Session) {
	defer srv.wg.Done()
	defer func() {
		<-sess.finished // its OnClose has run: Serve returns after every one
		srv.mu.Lock()
		delete(srv.sessions, sess)
		srv.mu.Unlock()
	}()
	stop := context.AfterFunc(ctx, func() { sess.Close() })
	defer stop()
	for {
		st, err := sess.Accept(context.Background())
		if err != nil {
			return // the session ended
		}
		if err := srv.vl.Deliver(ctx, st); err != nil {
			// The listener is closed (or ctx ended): refuse this
			// stream and those waiting behind it, let the others
			// finish, open no more.
			st.Reset(CodeRefused)
			sess.GoAway()
			refuseQueued(sess)
			<-sess.Done()
			return
		}
	}
}

// refuseQueued resets the streams the peer opened that wait in sess for
// Accept, freeing what they buffered: nobody will take them now. After
// GoAway no more join them.
func refuseQueued(sess *Session) {
	now, cancel := context.WithCancel(context.Background())
	cancel() // Accept returns what is queued, then ctx's error
	for {
		st, err := sess.Accept(now)
		if err != nil {
			return
		}
		st.Reset(CodeRefused)
	}
}

// drain ends every session: at once when ctx has ended, else after GOAWAY
// once their streams are done.
func (srv *server) drain(ctx context.Context) {
	srv.mu.Lock()
	srv.stopping = true
	sessions := make([]*Session, 0, len(srv.sessions))
	for s := range srv.sessions {
		sessions = append(sessions, s)
	}
	srv.mu.Unlock()
	for _, s := range sessions {
		if ctx.Err() != nil {
			s.Close()
		} else {
			s.GoAway()
		}
	}
	srv.wg.Wait()
}
