//go:build linux

package udpproxy

import (
	"bytes"
	"fmt"
	"net"
	"testing"

	"golang.org/x/sys/unix"
)

// sendGSO sends payloads as one UDP_SEGMENT message of segments of seg bytes
// (all but the last must be exactly seg long).
func sendGSO(t *testing.T, c *net.UDPConn, seg int, payloads [][]byte) {
	t.Helper()
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	buf := bytes.Join(payloads, nil)
	oob := make([]byte, unix.CmsgSpace(2))
	putSegment(oob, seg)
	var serr error
	if err := rc.Write(func(fd uintptr) bool {
		_, serr = unix.SendmsgN(int(fd), buf, oob, nil, 0)
		return serr != unix.EAGAIN
	}); err != nil {
		t.Fatal(err)
	}
	if serr != nil {
		t.Skipf("client cannot send with UDP GSO here: %v", serr)
	}
}

func TestGROSplitsCoalescedDatagrams(t *testing.T) {
	for _, offload := range []bool{true, false} {
		t.Run(fmt.Sprintf("offload=%v", offload), func(t *testing.T) {
			e := newEcho(t, "")
			h := startProxy(t, Config{Upstreams: backends(e.addr), DisableOffload: !offload, Workers: 1}, nil)
			if offload && h.metric(t, "sluice_udp_offload", "feature", "gro") != 1 {
				t.Skip("no UDP GRO on this kernel")
			}
			c := dial(t, nil, h.addr)
			payloads := [][]byte{
				bytes.Repeat([]byte("a"), 100), bytes.Repeat([]byte("b"), 100),
				bytes.Repeat([]byte("c"), 100), bytes.Repeat([]byte("d"), 40),
			}
			// On loopback a GSO message reaches a GRO socket whole: the proxy
			// must split it back into the four datagrams.
			sendGSO(t, c, 100, payloads)
			for _, p := range payloads {
				if got := <-e.got; !bytes.Equal(got, p) {
					t.Errorf("upstream got %d bytes %q…, want %d", len(got), got[:1], len(p))
				}
			}
			for _, p := range payloads {
				if got := read(t, c); !bytes.Equal(got, p) {
					t.Errorf("client got %d bytes, want %d", len(got), len(p))
				}
			}
			if v := h.metric(t, "sluice_udp_datagrams_total", "direction", "upstream"); v != 4 {
				t.Errorf("datagrams up = %v, want 4", v)
			}
		})
	}
}

func TestGSOBatchesKeepDatagramBoundaries(t *testing.T) {
	e := newEcho(t, "")
	h := startProxy(t, Config{Upstreams: backends(e.addr), Workers: 1}, nil)
	c := dial(t, nil, h.addr)
	// Sizes that must not be merged into GSO runs wrongly: equal runs, a
	// longer one after a run, a zero-length one, a shorter one closing a run.
	sizes := []int{10, 10, 10, 20, 20, 0, 5, 5, 3, 5, 7, 7, 7, 7}
	var want [][]byte
	h.p.do(func(w *worker) { // the worker reads them all in one batch
		for i, n := range sizes {
			p := bytes.Repeat([]byte{byte('A' + i)}, n)
			want = append(want, p)
			if _, err := c.Write(p); err != nil {
				t.Error(err)
			}
		}
	})
	for i, p := range want {
		if got := <-e.got; !bytes.Equal(got, p) {
			t.Errorf("datagram %d: upstream got %q, want %q", i, got, p)
		}
		if got := read(t, c); !bytes.Equal(got, p) {
			t.Errorf("datagram %d: client got %q, want %q", i, got, p)
		}
	}
}

func TestIPv6(t *testing.T) {
	l, err := net.ListenUDP("udp6", &net.UDPAddr{IP: net.IPv6loopback})
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	l.Close()
	e := newEcho(t, "")
	h := startProxy(t, Config{Listen: []string{"[::1]:0"}, Upstreams: backends(e.addr)}, nil)
	c := dial(t, nil, h.addr)
	if got := roundTrip(t, c, []byte("six")); string(got) != "six" {
		t.Errorf("got %q", got)
	}
}

func TestGSORefusedFallsBack(t *testing.T) {
	for _, tt := range []struct {
		name  string
		errno unix.Errno
	}{
		{"path MTU", unix.EINVAL},
		{"no checksum offload", unix.EIO},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := newEcho(t, "")
			h := startProxy(t, Config{Upstreams: backends(e.addr), Workers: 1}, nil)
			if h.metric(t, "sluice_udp_offload", "feature", "gso") != 1 {
				t.Skip("no UDP GSO on this kernel")
			}
			h.p.do(func(w *worker) { w.p.gsoFault = tt.errno })
			c := dial(t, nil, h.addr)
			for round := range 2 {
				var want [][]byte
				h.p.do(func(w *worker) { // one batch: a GSO run each way
					for i := range 5 {
						p := fmt.Appendf(nil, "round %d datagram %d", round, i)
						want = append(want, p)
						if _, err := c.Write(p); err != nil {
							t.Error(err)
						}
					}
				})
				for _, p := range want {
					if got := <-e.got; !bytes.Equal(got, p) {
						t.Errorf("upstream got %q, want %q", got, p)
					}
					if got := read(t, c); !bytes.Equal(got, p) {
						t.Errorf("client got %q, want %q", got, p)
					}
				}
			}
			h.p.do(func(w *worker) {
				for _, s := range w.table {
					switch {
					case tt.errno == unix.EIO && !w.p.gsoBroken.Load():
						t.Error("EIO did not turn GSO off")
					case tt.errno == unix.EINVAL && !s.has(sNoGSOUp):
						t.Error("EINVAL did not turn GSO off for the session")
					}
				}
			})
			if v := h.metric(t, "sluice_udp_offload", "feature", "gso"); (v == 0) != (tt.errno == unix.EIO) {
				t.Errorf("gso gauge = %v after %v", v, tt.errno)
			}
			if v := h.metric(t, "sluice_udp_dropped_total"); v != 0 {
				t.Errorf("%v datagrams dropped", v)
			}
		})
	}
}
