package httpproxy

import (
	"crypto/tls"
	"net"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/sluice-proxy/sluice/protocols/http1"
)

// probeAfter is how long a pooled connection may sit idle and still be
// reused without probing it for a close first.
const probeAfter = time.Second

// Pool defaults.
const (
	DefaultPoolMaxIdle        = 1024
	DefaultPoolMaxIdlePerPeer = 1024
	DefaultPoolIdleTimeout    = 60 * time.Second
)

// PoolConfig sizes a Pool. Zero fields mean the defaults.
type PoolConfig struct {
	// MaxIdle bounds the idle connections of the whole pool; the least
	// recently used goes first when it is full.
	MaxIdle int
	// MaxIdlePerPeer bounds the idle connections kept for one pool key.
	MaxIdlePerPeer int
	// IdleTimeout closes a connection left idle this long (unless its
	// Peer sets its own).
	IdleTimeout time.Duration
}

// Pool holds idle upstream connections for reuse. One Pool is meant to be
// shared by every goroutine and, where peers overlap, every Service: the
// more requests share it, the more connections are reused (Pingora's shared
// pool is what took one of its users from 87.1% to 99.92% reuse). Its
// methods are safe for concurrent use.
//
// A connection goes back to the pool only when its last exchange ended
// cleanly: the whole request and response were framed without doubt and
// neither side asked to close. A connection is taken most recently used
// first and, where it is a socket, is checked for a close or stray bytes
// from the upstream before it is used again.
type Pool struct {
	maxIdle, maxPerKey int
	idleTimeout        time.Duration
	now                func() time.Time

	mu     sync.Mutex
	keys   map[poolKey]*connList
	lru    connList // every idle conn, oldest at the front
	timer  *time.Timer
	due    time.Time // when timer fires; zero when it is not set
	closed bool

	// putHook, when set, is called after each put. Tests set it.
	putHook func()

	h2 h2Pool // shared HTTP/2 connections
}

// poolKey identifies the connections a peer may reuse.
// poolKey names a pool of idle connections: the peer's network (or key)
// and address, and its TLS config (connections verified differently are
// never shared).
type poolKey struct {
	kind, addr string
	tls        *tls.Config
}

func keyOf(p *Peer) poolKey {
	switch {
	case p.PoolKey != "":
		return poolKey{"key", p.PoolKey, p.TLS}
	case p.Dialer != nil:
		return poolKey{"vstream", p.Addr, p.TLS}
	}
	return poolKey{p.network(), p.Addr, p.TLS}
}

// NewPool returns an empty pool.
func NewPool(cfg PoolConfig) *Pool {
	p := &Pool{
		maxIdle:     cfg.MaxIdle,
		maxPerKey:   cfg.MaxIdlePerPeer,
		idleTimeout: cfg.IdleTimeout,
		now:         time.Now,
		keys:        make(map[poolKey]*connList),
		lru:         connList{at: lruLinks},
	}
	if p.maxIdle <= 0 {
		p.maxIdle = DefaultPoolMaxIdle
	}
	if p.maxPerKey <= 0 {
		p.maxPerKey = DefaultPoolMaxIdlePerPeer
	}
	if p.idleTimeout <= 0 {
		p.idleTimeout = DefaultPoolIdleTimeout
	}
	return p
}

// upConn is an upstream connection with its reader, idle or in use.
type upConn struct {
	c   net.Conn
	raw syscall.RawConn // nil when c is not a socket
	r   *http1.Reader
	key poolKey
	h2  bool // a stream on a shared HTTP/2 connection: never pooled itself

	expires   time.Time
	idleSince time.Time
	uses      int
	rd, wd    lazyDeadline
	probe     func(fd uintptr) bool // c.peek, bound once
	probeOK   bool
	peekBuf   [1]byte
	lru       links // in Pool.lru
	kl        links // in the key's list
}

// links thread an upConn into one list.
type links struct{ prev, next *upConn }

// connList is an intrusive doubly linked list. Every idle upConn is in two:
// the pool's LRU (through its lru links) and its key's list (through its
// key links); which links a list uses is fixed by the function it is given.
type connList struct {
	head, tail *upConn
	n          int
	at         func(*upConn) *links
}

func lruLinks(c *upConn) *links { return &c.lru }
func keyLinks(c *upConn) *links { return &c.kl }

func (l *connList) push(c *upConn) {
	cl := l.at(c)
	cl.prev, cl.next = l.tail, nil
	if l.tail != nil {
		l.at(l.tail).next = c
	} else {
		l.head = c
	}
	l.tail = c
	l.n++
}

func (l *connList) remove(c *upConn) {
	cl := l.at(c)
	if cl.prev != nil {
		l.at(cl.prev).next = cl.next
	} else {
		l.head = cl.next
	}
	if cl.next != nil {
		l.at(cl.next).prev = cl.prev
	} else {
		l.tail = cl.prev
	}
	*cl = links{}
	l.n--
}

// get takes the most recently used connection for key, or returns nil.
// Expired connections met on the way are closed. The caller checks the
// one it gets with alive. now is a recent reading of the clock (the
// request's), which saves reading it per use.
func (p *Pool) get(key poolKey, now time.Time) *upConn {
	for {
		p.mu.Lock()
		kl := p.keys[key]
		if kl == nil || kl.tail == nil {
			p.mu.Unlock()
			return nil
		}
		c := kl.tail
		p.unlinkLocked(c)
		p.mu.Unlock()
		if !c.expires.IsZero() && !now.Before(c.expires) {
			c.c.Close()
			continue
		}
		return c
	}
}

// put offers c back for reuse after an exchange that ended cleanly; it
// closes c when the pool is full for its key, closed, or idle is negative.
// now, a recent reading of the clock, starts c's idle time.
func (p *Pool) put(c *upConn, idle time.Duration, now time.Time) {
	if idle < 0 {
		c.c.Close()
		return
	}
	if idle == 0 {
		idle = p.idleTimeout
	}
	c.idleSince = now
	c.expires = now.Add(idle)
	var evict []*upConn
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		c.c.Close()
		return
	}
	kl := p.keys[c.key]
	if kl == nil {
		kl = &connList{at: keyLinks}
		p.keys[c.key] = kl
	}
	if kl.n >= p.maxPerKey {
		old := kl.head
		p.unlinkLocked(old)
		evict = append(evict, old)
	}
	for p.lru.n >= p.maxIdle {
		old := p.lru.head
		p.unlinkLocked(old)
		evict = append(evict, old)
	}
	kl.push(c)
	p.lru.push(c)
	if p.due.IsZero() || c.expires.Before(p.due) {
		p.armLocked(c.expires)
	}
	p.mu.Unlock()
	for _, old := range evict {
		old.c.Close()
	}
	if p.putHook != nil {
		p.putHook()
	}
}

// unlinkLocked takes c out of both lists. Called with p.mu held.
func (p *Pool) unlinkLocked(c *upConn) {
	p.keys[c.key].remove(c)
	p.lru.remove(c)
}

// armLocked makes the sweep run at t. Called with p.mu held.
func (p *Pool) armLocked(t time.Time) {
	d := t.Sub(p.now())
	if d < 0 {
		d = 0
	}
	p.due = t
	if p.timer == nil {
		p.timer = time.AfterFunc(d, p.sweep)
		return
	}
	p.timer.Reset(d)
}

// sweep closes the connections whose idle time is up and re-arms the timer
// for the next one to expire.
func (p *Pool) sweep() {
	now := p.now()
	var dead []*upConn
	p.mu.Lock()
	p.due = time.Time{}
	var next time.Time
	for c := p.lru.head; c != nil; {
		n := c.lru.next
		if !now.Before(c.expires) {
			p.unlinkLocked(c)
			dead = append(dead, c)
		} else if next.IsZero() || c.expires.Before(next) {
			next = c.expires
		}
		c = n
	}
	if !next.IsZero() && !p.closed {
		p.armLocked(next)
	}
	// Lists of keys with nothing idle are kept between uses (no allocation
	// per put) and dropped here, so peers that come and go leave nothing.
	for k, kl := range p.keys {
		if kl.n == 0 {
			delete(p.keys, k)
		}
	}
	p.mu.Unlock()
	for _, c := range dead {
		c.c.Close()
	}
}

// Idle returns the number of idle connections held.
func (p *Pool) Idle() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.lru.n
}

// Close closes every idle connection and every HTTP/2 connection;
// connections put back afterwards are closed at once.
func (p *Pool) Close() error {
	p.mu.Lock()
	p.closed = true
	var all []*upConn
	for c := p.lru.head; c != nil; c = p.lru.head {
		p.unlinkLocked(c)
		all = append(all, c)
	}
	if p.timer != nil {
		p.timer.Stop()
	}
	p.mu.Unlock()
	for _, c := range all {
		c.c.Close()
	}
	p.h2.close()
	return nil
}

// HTTP2Conns returns the number of live HTTP/2 upstream connections the
// pool shares between requests.
func (p *Pool) HTTP2Conns() int { return p.h2.count() }

// alive reports whether an idle socket is still usable: not closed by the
// upstream and without stray bytes (a response nobody asked for would be
// taken for the next one). It costs one non-blocking recv; streams that are
// not sockets are trusted.
func alive(c *upConn, now time.Time, readTimeout time.Duration) bool {
	if c.r.Buffered() > 0 {
		return false
	}
	// RawConn.Read refuses to call the probe past the read deadline.
	c.rd.extend(now, c.c.SetReadDeadline, readTimeout)
	if c.raw == nil {
		return true
	}
	if c.probe == nil {
		c.probe = c.peek // made once per connection, not per use
	}
	c.probeOK = false
	if err := c.raw.Read(c.probe); err != nil {
		return false
	}
	return c.probeOK
}

// peek is the RawConn callback of alive: a recv with MSG_PEEK|MSG_DONTWAIT
// must find nothing to read (EAGAIN); data or EOF means the connection is
// not fit for a new request. It never asks to wait.
func (c *upConn) peek(fd uintptr) bool {
	_, _, errno := unix.Syscall6(unix.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&c.peekBuf[0])), 1,
		unix.MSG_PEEK|unix.MSG_DONTWAIT, 0, 0)
	c.probeOK = errno == unix.EAGAIN
	return true
}

// rawConnOf returns the RawConn of a socket, or nil.
func rawConnOf(c net.Conn) syscall.RawConn {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return nil
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	return raw
}
