package vmux

import (
	"io"
	"testing"
	"time"
)

// TestDataPathAllocs: moving bytes over a stream in steady state, and the
// read clock's check-up (what a busy session pays per FrameTimeout),
// allocate nothing.
func TestDataPathAllocs(t *testing.T) {
	cs, ss := sessionPair(t, Config{}, Config{})
	a, b := streamPair(t, cs, ss)
	wbuf, rbuf := make([]byte, 32<<10), make([]byte, 32<<10)
	relay := func() {
		if _, err := a.Write(wbuf); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(b, rbuf); err != nil {
			t.Fatal(err)
		}
	}
	for range 100 { // grow the buffers and queues to their steady size
		relay()
	}
	if n := testing.AllocsPerRun(200, relay); n != 0 {
		t.Errorf("32 KiB through a stream: %v allocations, want 0", n)
	}

	// A check-up on a session that is in use: it arms the next one.
	var rc readClock
	rc.s, rc.conn = ss, ss.conn
	rc.frame, rc.idle, rc.ticking = time.Hour, time.Hour, true
	rc.idleSince = time.Now()
	if n := testing.AllocsPerRun(200, func() {
		if err := rc.checkUp(false); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("a check-up: %v allocations, want 0", n)
	}
	ss.conn.SetReadDeadline(time.Time{})
}
