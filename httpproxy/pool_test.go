package httpproxy

import (
	"net"
	"testing"
	"time"

	"github.com/sluice-proxy/sluice/protocols/http1"
)

// pipeConn is an upConn over one end of a net.Pipe; closed reports when
// the pool closed it.
func pipeConn(t *testing.T, key poolKey) (*upConn, func() bool) {
	t.Helper()
	a, b := net.Pipe()
	t.Cleanup(func() { a.Close(); b.Close() })
	uc := &upConn{c: a, r: http1.NewReader(a, http1.Limits{}), key: key}
	closed := func() bool {
		b.SetReadDeadline(time.Now().Add(safety))
		_, err := b.Read(make([]byte, 1))
		return err != nil
	}
	return uc, closed
}

func TestPool(t *testing.T) {
	k1, k2 := poolKey{"tcp", "a:1", nil}, poolKey{"tcp", "b:1", nil}
	t.Run("most recently used first", func(t *testing.T) {
		p := NewPool(PoolConfig{})
		defer p.Close()
		x, _ := pipeConn(t, k1)
		y, _ := pipeConn(t, k1)
		p.put(x, 0, p.now())
		p.put(y, 0, p.now())
		if got := p.get(k1, p.now()); got != y {
			t.Error("not the most recently used")
		}
		if got := p.get(k2, p.now()); got != nil {
			t.Error("a connection for another key")
		}
		if got := p.get(k1, p.now()); got != x {
			t.Error("second get")
		}
		if p.get(k1, p.now()) != nil || p.Idle() != 0 {
			t.Error("pool not empty")
		}
	})
	t.Run("per-key bound evicts the oldest", func(t *testing.T) {
		p := NewPool(PoolConfig{MaxIdlePerPeer: 1})
		defer p.Close()
		x, xClosed := pipeConn(t, k1)
		y, _ := pipeConn(t, k1)
		p.put(x, 0, p.now())
		p.put(y, 0, p.now())
		if !xClosed() || p.Idle() != 1 {
			t.Errorf("idle %d; the oldest must be closed", p.Idle())
		}
	})
	t.Run("global bound evicts the least recently used", func(t *testing.T) {
		p := NewPool(PoolConfig{MaxIdle: 2})
		defer p.Close()
		x, xClosed := pipeConn(t, k1)
		y, _ := pipeConn(t, k2)
		z, _ := pipeConn(t, k2)
		p.put(x, 0, p.now())
		p.put(y, 0, p.now())
		p.put(z, 0, p.now())
		if !xClosed() || p.Idle() != 2 || p.get(k1, p.now()) != nil {
			t.Errorf("idle %d; k1's connection must be gone", p.Idle())
		}
	})
	t.Run("idle timeout", func(t *testing.T) {
		p := NewPool(PoolConfig{IdleTimeout: time.Minute})
		defer p.Close()
		now := time.Now()
		p.now = func() time.Time { return now }
		x, xClosed := pipeConn(t, k1)
		y, _ := pipeConn(t, k2)
		p.put(x, 0, p.now())
		p.put(y, 2*time.Minute, p.now()) // a peer's own idle bound
		now = now.Add(90 * time.Second)
		p.sweep()
		if !xClosed() || p.Idle() != 1 {
			t.Errorf("idle %d after the sweep; x must be closed", p.Idle())
		}
		if p.get(k2, p.now()) != y {
			t.Error("y expired early")
		}
	})
	t.Run("negative idle is never pooled; Close closes all", func(t *testing.T) {
		p := NewPool(PoolConfig{})
		x, xClosed := pipeConn(t, k1)
		p.put(x, -1, p.now())
		if !xClosed() || p.Idle() != 0 {
			t.Error("pooled with a negative idle timeout")
		}
		y, yClosed := pipeConn(t, k1)
		p.put(y, 0, p.now())
		p.Close()
		if !yClosed() {
			t.Error("Close left an idle connection open")
		}
		z, zClosed := pipeConn(t, k1)
		p.put(z, 0, p.now())
		if !zClosed() {
			t.Error("put after Close kept the connection")
		}
	})
}
