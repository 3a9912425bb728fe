//go:build linux

package splice

import (
	"errors"
	"testing"

	"golang.org/x/sys/unix"
)

func TestNewPoolDefaults(t *testing.T) {
	tests := []struct {
		name                string
		cfg                 PoolConfig
		pipe, buf, thr, max int
		mode                Mode
	}{
		{"zero", PoolConfig{}, DefaultPipeSize, DefaultBufferSize, DefaultBufferSize, DefaultMaxIdlePipes, Auto},
		{"set", PoolConfig{PipeSize: 1 << 20, BufferSize: 4096, SpliceThreshold: 1024, MaxIdlePipes: 3, Mode: Always},
			1 << 20, 4096, 1024, 3, Always},
		{"threshold above buffer", PoolConfig{BufferSize: 4096, SpliceThreshold: 1 << 20}, DefaultPipeSize, 4096, 4096, DefaultMaxIdlePipes, Auto},
		{"no idle pipes, bad mode", PoolConfig{MaxIdlePipes: -1, Mode: 42}, DefaultPipeSize, DefaultBufferSize, DefaultBufferSize, 0, Auto},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := NewPool(tt.cfg)
			if p.pipeSize != tt.pipe || p.bufSize != tt.buf || p.threshold != tt.thr || cap(p.pipes) != tt.max || p.mode != tt.mode {
				t.Errorf("pool %d %d %d %d %v, want %d %d %d %d %v", p.pipeSize, p.bufSize, p.threshold, cap(p.pipes), p.mode,
					tt.pipe, tt.buf, tt.thr, tt.max, tt.mode)
			}
			b := p.getBuf()
			if len(*b) != tt.buf {
				t.Errorf("buffer of %d bytes, want %d", len(*b), tt.buf)
			}
			p.putBuf(b)
		})
	}
}

func TestPipeSize(t *testing.T) {
	for _, size := range []int{64 << 10, 256 << 10, 1 << 20} {
		p := NewPool(PoolConfig{PipeSize: size})
		pp, err := p.getPipe()
		if err != nil {
			t.Fatal(err)
		}
		got, err := unix.FcntlInt(uintptr(pp.r), unix.F_GETPIPE_SZ, 0)
		if err != nil {
			t.Fatal(err)
		}
		// Unprivileged users may be refused beyond fs.pipe-max-size; the
		// pipe must then report what the kernel gave.
		if got != pp.size || got < 64<<10 {
			t.Errorf("asked %d: pipe says %d, kernel %d", size, pp.size, got)
		}
		if unix.Geteuid() == 0 && got != size {
			t.Errorf("asked %d as root, got %d", size, got)
		}
		p.putPipe(pp, true)
		p.ReleaseIdle()
	}
}

func isOpen(fd int) bool {
	_, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
	return !errors.Is(err, unix.EBADF)
}

func TestPipeRecycling(t *testing.T) {
	p := NewPool(PoolConfig{MaxIdlePipes: 2})
	var pipes []*pipe
	for range 4 {
		pp, err := p.getPipe()
		if err != nil {
			t.Fatal(err)
		}
		pipes = append(pipes, pp)
	}
	if st := p.Stats(); st.PipesInUse != 4 || st.PipesIdle != 0 {
		t.Fatalf("stats %+v", st)
	}
	p.putPipe(pipes[0], false) // may hold data: closed, not kept
	if isOpen(pipes[0].r) || isOpen(pipes[0].w) {
		t.Error("a pipe that may hold data was kept open")
	}
	for _, pp := range pipes[1:] {
		p.putPipe(pp, true)
	}
	if st := p.Stats(); st.PipesInUse != 0 || st.PipesIdle != 2 {
		t.Fatalf("stats %+v, want 2 idle", st)
	}
	if isOpen(pipes[3].r) {
		t.Error("the pipe past MaxIdlePipes was kept open")
	}
	again, err := p.getPipe()
	if err != nil {
		t.Fatal(err)
	}
	if again != pipes[1] && again != pipes[2] {
		t.Error("an idle pipe was not reused")
	}
	p.putPipe(again, true)
	p.ReleaseIdle()
	if st := p.Stats(); st.PipesIdle != 0 {
		t.Fatalf("after ReleaseIdle: %+v", st)
	}
	if isOpen(pipes[1].r) || isOpen(pipes[2].r) {
		t.Error("ReleaseIdle left pipes open")
	}
}

func TestModeString(t *testing.T) {
	for m, want := range map[Mode]string{Auto: "auto", Always: "always", Never: "never", 9: "Mode(invalid)"} {
		if got := m.String(); got != want {
			t.Errorf("%d.String() = %q, want %q", int(m), got, want)
		}
	}
}
