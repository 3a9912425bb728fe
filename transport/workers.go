package transport

import (
	"context"
	"net"
	"sync"
	"time"
)

// Bounds of the goroutines kept for the next connections.
const (
	// maxIdleWorkers bounds how many goroutines wait for a connection.
	maxIdleWorkers = 1024
	// workerIdle is how long a goroutine waits for a connection before it
	// ends.
	workerIdle = 10 * time.Second
)

// workers keeps the goroutines that served connections, with the stacks
// they grew, and hands them the next connections. A new goroutine starts
// with a small stack and grows it (a copy of the stack each time it
// doubles) on the deep call paths of a connection's first steps (filters,
// dialing an upstream); at thousands of connections a second, a fresh
// goroutine per connection spends a few per cent of the CPU growing stacks.
// A kept goroutine costs its stack while it waits (bounded by
// maxIdleWorkers, and given back after workerIdle).
type workers struct {
	mu     sync.Mutex
	idle   []*worker // parked workers, the longest parked first
	closed bool
	timer  *time.Timer // the sweep, armed while idle is not empty
}

// worker is one kept goroutine.
type worker struct {
	jobs  chan connJob // capacity 1: a hand never blocks
	since time.Time    // when it parked
}

// connJob is an accepted connection for a worker to serve.
type connJob struct {
	ctx context.Context
	c   net.Conn
	at  time.Time
}

// hand gives j to a parked worker, reporting false when none waits.
func (ws *workers) hand(j connJob) bool {
	ws.mu.Lock()
	n := len(ws.idle)
	if n == 0 {
		ws.mu.Unlock()
		return false
	}
	w := ws.idle[n-1] // the most recently parked: its stack is warm
	ws.idle[n-1] = nil
	ws.idle = ws.idle[:n-1]
	ws.mu.Unlock()
	w.jobs <- j
	return true
}

// park puts w among the idle workers, reporting false when it should end
// instead (closed, or enough are waiting).
func (ws *workers) park(w *worker) bool {
	now := time.Now()
	ws.mu.Lock()
	defer ws.mu.Unlock()
	if ws.closed || len(ws.idle) >= maxIdleWorkers {
		return false
	}
	w.since = now
	ws.idle = append(ws.idle, w)
	if ws.timer == nil {
		ws.timer = time.AfterFunc(workerIdle, ws.sweep)
	} else if len(ws.idle) == 1 {
		ws.timer.Reset(workerIdle)
	}
	return true
}

// sweep ends the workers parked for longer than workerIdle.
func (ws *workers) sweep() {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	now := time.Now()
	cut := now.Add(-workerIdle)
	n := 0
	for n < len(ws.idle) && !ws.idle[n].since.After(cut) {
		close(ws.idle[n].jobs)
		ws.idle[n] = nil
		n++
	}
	ws.idle = append(ws.idle[:0], ws.idle[n:]...)
	if len(ws.idle) > 0 && !ws.closed {
		ws.timer.Reset(ws.idle[0].since.Add(workerIdle).Sub(now) + time.Millisecond)
	}
}

// close ends every parked worker; those still serving end when they are
// done.
func (ws *workers) close() {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	ws.closed = true
	for i, w := range ws.idle {
		close(w.jobs)
		ws.idle[i] = nil
	}
	ws.idle = nil
	if ws.timer != nil {
		ws.timer.Stop()
	}
}

// work is a worker goroutine: it serves j, then each connection handed to
// it, until it is not kept.
func (s *Server) work(j connJob) {
	var w *worker
	for {
		s.serveConn(j.ctx, j.c, j.at)
		if w == nil {
			w = &worker{jobs: make(chan connJob, 1)}
		}
		if !s.workers.park(w) {
			return
		}
		var ok bool
		if j, ok = <-w.jobs; !ok {
			return
		}
	}
}
