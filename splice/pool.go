package splice

import (
	"sync"
	"sync/atomic"
)

// Defaults for [PoolConfig] fields left zero.
const (
	// DefaultPipeSize is the pipe capacity asked of the kernel with
	// F_SETPIPE_SZ: 256 KiB, 64 page slots. A splice from a TCP socket uses
	// a slot per socket buffer fragment, so small pipes cap the bytes moved
	// per system call; bigger pipes count against the per-user pipe quota
	// (fs.pipe-user-pages-soft, 64 MiB by default), past which the kernel
	// refuses to grow pipes.
	DefaultPipeSize = 256 << 10
	// DefaultBufferSize is the size of the userspace buffers: 16 KiB.
	DefaultBufferSize = 16 << 10
	// DefaultMaxIdlePipes is how many empty pipes a pool keeps for reuse.
	DefaultMaxIdlePipes = 64
)

// Mode says when a copy between two sockets uses splice(2).
type Mode int

const (
	// Auto starts each direction with read/write through a pooled buffer
	// and switches it to splice when a read brings at least
	// PoolConfig.SpliceThreshold bytes; a splice that moves fewer switches
	// it back. Bulk transfers splice, small messages cost one read and one
	// write each. This is HAProxy's splice-auto.
	Auto Mode = iota
	// Always splices every chunk between two sockets.
	Always
	// Never copies through userspace buffers only.
	Never
)

// String returns the mode's name.
func (m Mode) String() string {
	switch m {
	case Auto:
		return "auto"
	case Always:
		return "always"
	case Never:
		return "never"
	}
	return "Mode(invalid)"
}

// PoolConfig configures a [Pool]. The zero value gives the defaults.
type PoolConfig struct {
	// PipeSize is the pipe capacity in bytes asked with F_SETPIPE_SZ;
	// 0 means DefaultPipeSize. When the kernel refuses (EPERM: above
	// fs.pipe-max-size or the user's pipe quota) pipes keep the size the
	// kernel gave them, 64 KiB usually.
	PipeSize int
	// BufferSize is the size of the userspace buffers; 0 means
	// DefaultBufferSize.
	BufferSize int
	// MaxIdlePipes bounds the empty pipes kept for reuse (two file
	// descriptors each); 0 means DefaultMaxIdlePipes, negative keeps none.
	// Pipes returned to a full pool are closed at once.
	MaxIdlePipes int
	// Mode says when to splice between sockets; the zero value is Auto.
	Mode Mode
	// SpliceThreshold is the chunk size, in bytes, at which Auto mode
	// switches a direction to splice, and under which it switches back.
	// 0 or anything above BufferSize means BufferSize: switch when a read
	// fills the whole buffer.
	SpliceThreshold int
}

// PoolStats is a snapshot of a [Pool]'s counters.
type PoolStats struct {
	// PipesInUse counts pipes taken by copies that are moving bytes.
	// Copies waiting for data hold none.
	PipesInUse int64
	// PipesIdle counts empty pipes kept for reuse.
	PipesIdle int64
	// BuffersInUse counts buffers taken by copies that are moving bytes.
	BuffersInUse int64
	// SplicedBytes counts bytes moved with splice(2), and CopiedBytes those
	// moved through userspace buffers, by copies that have returned.
	SplicedBytes, CopiedBytes int64
}

// Pool hands out kernel pipes and userspace buffers to copies. A Pool is
// safe for concurrent use; share one among all connections. Create Pools with
// [NewPool]; the zero Pool is not usable.
type Pool struct {
	pipeSize  int
	bufSize   int
	threshold int
	mode      Mode

	bufs  sync.Pool  // of *[]byte, all bufSize long
	pipes chan *pipe // idle, empty pipes

	pipesInUse atomic.Int64
	bufsInUse  atomic.Int64
	spliced    atomic.Int64
	copied     atomic.Int64

	// Counted for tests: mode switches of returned copies.
	toSplice, toBuffer atomic.Int64
	// waitHook, when set (by tests, before use), runs each time a copy
	// has released its pipe and buffer and is about to wait for data.
	waitHook func(r *relay)
	// newPipe creates pipes; tests replace it to make creation fail.
	newPipe func(size int) (*pipe, error)
}

// NewPool returns a Pool configured by cfg.
func NewPool(cfg PoolConfig) *Pool {
	p := &Pool{
		pipeSize:  cfg.PipeSize,
		bufSize:   cfg.BufferSize,
		threshold: cfg.SpliceThreshold,
		mode:      cfg.Mode,
	}
	if p.pipeSize <= 0 {
		p.pipeSize = DefaultPipeSize
	}
	if p.bufSize <= 0 {
		p.bufSize = DefaultBufferSize
	}
	if p.threshold <= 0 || p.threshold > p.bufSize {
		p.threshold = p.bufSize
	}
	if p.mode < Auto || p.mode > Never {
		p.mode = Auto
	}
	idle := cfg.MaxIdlePipes
	if idle == 0 {
		idle = DefaultMaxIdlePipes
	}
	if idle < 0 {
		idle = 0
	}
	p.pipes = make(chan *pipe, idle)
	p.newPipe = newPipe
	size := p.bufSize
	p.bufs.New = func() any {
		b := make([]byte, size)
		return &b
	}
	return p
}

// defaultPool is the package default, created on first use.
var defaultPool = sync.OnceValue(func() *Pool { return NewPool(PoolConfig{}) })

// Default returns the package's default Pool, built from a zero
// [PoolConfig] on first use and shared by [Copy] and by [Join] without a
// Pool.
func Default() *Pool { return defaultPool() }

// Stats returns a snapshot of the pool's counters.
func (p *Pool) Stats() PoolStats {
	return PoolStats{
		PipesInUse:   p.pipesInUse.Load(),
		PipesIdle:    int64(len(p.pipes)),
		BuffersInUse: p.bufsInUse.Load(),
		SplicedBytes: p.spliced.Load(),
		CopiedBytes:  p.copied.Load(),
	}
}

// ReleaseIdle closes the idle pipes the pool keeps. The pool stays usable.
func (p *Pool) ReleaseIdle() {
	for {
		select {
		case pp := <-p.pipes:
			pp.close()
		default:
			return
		}
	}
}

func (p *Pool) getBuf() *[]byte {
	p.bufsInUse.Add(1)
	return p.bufs.Get().(*[]byte)
}

func (p *Pool) putBuf(b *[]byte) {
	p.bufsInUse.Add(-1)
	p.bufs.Put(b)
}

// getPipe returns an empty pipe, idle or new.
func (p *Pool) getPipe() (*pipe, error) {
	select {
	case pp := <-p.pipes:
		p.pipesInUse.Add(1)
		return pp, nil
	default:
	}
	pp, err := p.newPipe(p.pipeSize)
	if err != nil {
		return nil, err
	}
	p.pipesInUse.Add(1)
	return pp, nil
}

// putPipe takes back a pipe from getPipe. A pipe that may hold data is
// closed, never pooled.
func (p *Pool) putPipe(pp *pipe, empty bool) {
	p.pipesInUse.Add(-1)
	if !empty {
		pp.close()
		return
	}
	select {
	case p.pipes <- pp:
	default:
		pp.close()
	}
}
