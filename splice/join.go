package splice

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// JoinOptions configures [Join]. The zero value is usable.
type JoinOptions struct {
	// IdleTimeout ends the relay with ErrIdleTimeout when no byte moved
	// in either direction for this long; 0 means no timeout.
	IdleTimeout time.Duration
	// Pool supplies pipes and buffers; nil means Default().
	Pool *Pool
}

// Stats counts the bytes Join wrote each way.
type Stats struct {
	// AToB counts bytes read from a and written to b; BToA the others.
	AToB, BToA int64
}

// Join relays a and b to each other until both directions end, then closes
// both and returns the bytes written each way.
//
// Each direction is a [Pool.Copy]. When one reads EOF, Join half-closes
// the other connection with CloseWrite (on the connection or, failing that,
// on what it unwraps to) and keeps the opposite direction going; a
// connection with no CloseWrite cannot pass the EOF on, so Join then ends
// the relay. Any read or write error in one direction closes both
// connections and ends the other direction too.
//
// Join returns nil when both directions ended with EOF, an error wrapping
// ctx.Err() when ctx was canceled, ErrIdleTimeout when nothing moved for
// opt.IdleTimeout, and otherwise the first error. It runs the b→a direction
// in one extra goroutine and a→b in the caller's.
func Join(ctx context.Context, a, b net.Conn, opt JoinOptions) (Stats, error) {
	if a == nil || b == nil {
		return Stats{}, errors.New("splice: join: nil connection")
	}
	j := &joiner{a: a, b: b, pool: opt.Pool, ctx: ctx}
	if j.pool == nil {
		j.pool = Default()
	}
	if opt.IdleTimeout > 0 {
		j.idle = newIdleClock(opt.IdleTimeout)
	}
	stop := context.AfterFunc(ctx, j.cancel)
	j.wg.Add(1)
	go j.relayBToA()
	j.stats.AToB = j.relay(b, a)
	j.wg.Wait()
	stop()
	j.end(nil)

	err := j.err
	switch {
	case err == nil:
	case j.canceled:
		err = fmt.Errorf("splice: join canceled: %w", err)
	case errors.Is(err, ErrIdleTimeout):
		err = ErrIdleTimeout
	default:
		err = fmt.Errorf("splice: join: %w", err)
	}
	return j.stats, err
}

// joiner is the state of one Join.
type joiner struct {
	a, b  net.Conn
	pool  *Pool
	idle  *idleClock
	ctx   context.Context
	wg    sync.WaitGroup
	stats Stats

	eofs     atomic.Int32 // directions that ended with EOF
	once     sync.Once
	err      error // the first error; set once, before both are closed
	canceled bool
}

// relayBToA is the goroutine copying b to a.
func (j *joiner) relayBToA() {
	defer j.wg.Done()
	j.stats.BToA = j.relay(j.a, j.b)
}

// relay copies src to dst, then passes the EOF on with CloseWrite or, when
// the other direction is over too or dst cannot half-close, ends the Join.
func (j *joiner) relay(dst, src net.Conn) int64 {
	r := &relay{pool: j.pool, idle: j.idle}
	err := r.run(dst, src)
	if err != nil {
		j.end(err)
		return r.written
	}
	if j.eofs.Add(1) == 2 {
		// Both directions are over: closing both connections sends each
		// peer its FIN, and saves a shutdown(2) per connection.
		j.end(nil)
		return r.written
	}
	ok, err := closeWrite(dst)
	switch {
	case err != nil:
		j.end(fmt.Errorf("close write: %w", err))
	case !ok:
		j.end(nil)
	}
	return r.written
}

// closeWrite half-closes w or the first connection under it that can.
func closeWrite(w io.Writer) (bool, error) {
	for i := 0; i < maxUnwrap && w != nil; i++ {
		if cw, ok := w.(closeWriter); ok {
			return true, cw.CloseWrite()
		}
		u, ok := w.(unwrapper)
		if !ok {
			break
		}
		w = u.Unwrap()
	}
	return false, nil
}

// end records the first outcome and closes both connections, unblocking the
// other direction. Later calls do nothing: their errors come from the close.
func (j *joiner) end(err error) {
	j.once.Do(func() {
		j.err = err
		j.a.Close()
		j.b.Close()
	})
}

// cancel runs when ctx is done.
func (j *joiner) cancel() {
	j.once.Do(func() {
		j.err = j.ctx.Err()
		j.canceled = true
		j.a.Close()
		j.b.Close()
	})
}
