package vmux

import (
	"context"
	"errors"
	"net"
	"sync"

	"github.com/sluice-proxy/sluice/vstream"
)

// Serve accepts connections on ln, runs a server Session on each, and
// delivers every stream the peers open to vl, so that whatever serves vl
// (tcpproxy, any accept loop) gets vmux streams as it gets sockets. A
// stream waits in its session while vl's backlog is full: a slow consumer
// slows the peers down rather than piling streams up.
//
// Serve returns when ln fails or is closed (nil for net.ErrClosed), when vl
// is closed, or when ctx ends. Then it closes ln, and:
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

// acceptLoop accepts connections until ln fails.
func (srv *server) acceptLoop(ctx context.Context) error {
	for {
		c, err := srv.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) || ctx.Err() != nil {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return err
		}
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

// deliverStreams is the goroutine that hands one session's streams to the
// vstream.Listener until the session or the listener ends.
func (srv *server) deliverStreams(ctx context.Context, sess *Session) {
	defer srv.wg.Done()
	defer func() {
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
			// stream, let the others finish, open no more.
			st.Reset(CodeRefused)
			sess.GoAway()
			<-sess.Done()
			return
		}
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
