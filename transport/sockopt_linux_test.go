package transport

import (
	"context"
	"net"
	"sync"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// getInt reads an integer socket option.
func getInt(t *testing.T, c any, level, opt int) int {
	t.Helper()
	sc, ok := c.(syscall.Conn)
	if !ok {
		t.Fatalf("%T has no SyscallConn", c)
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var v int
	var gerr error
	if err := rc.Control(func(fd uintptr) { v, gerr = unix.GetsockoptInt(int(fd), level, opt) }); err != nil {
		t.Fatal(err)
	}
	if gerr != nil {
		t.Fatalf("getsockopt(%d, %d): %v", level, opt, gerr)
	}
	return v
}

func TestListenSocketOptions(t *testing.T) {
	const buf = 300000 // above the defaults (131072 receive, 16384 send)
	for _, tc := range []struct {
		name  string
		lc    ListenConfig
		check func(t *testing.T, ln net.Listener, conn net.Conn)
	}{
		{"defaults", ListenConfig{}, func(t *testing.T, ln net.Listener, conn net.Conn) {
			if v := getInt(t, conn, unix.IPPROTO_TCP, unix.TCP_NODELAY); v == 0 {
				t.Error("TCP_NODELAY off by default")
			}
			if v := getInt(t, conn, unix.SOL_SOCKET, unix.SO_KEEPALIVE); v == 0 {
				t.Error("SO_KEEPALIVE off by default (Go turns it on)")
			}
			if v := getInt(t, ln, unix.SOL_SOCKET, unix.SO_REUSEPORT); v != 0 {
				t.Error("SO_REUSEPORT on by default")
			}
			if v := getInt(t, ln, unix.IPPROTO_TCP, unix.TCP_FASTOPEN); v != 0 {
				t.Errorf("TCP_FASTOPEN = %d by default", v)
			}
		}},
		{"ReusePort", ListenConfig{ReusePort: true}, func(t *testing.T, ln net.Listener, _ net.Conn) {
			if v := getInt(t, ln, unix.SOL_SOCKET, unix.SO_REUSEPORT); v != 1 {
				t.Errorf("SO_REUSEPORT = %d", v)
			}
		}},
		{"DisableNoDelay", ListenConfig{DisableNoDelay: true}, func(t *testing.T, _ net.Listener, conn net.Conn) {
			if v := getInt(t, conn, unix.IPPROTO_TCP, unix.TCP_NODELAY); v != 0 {
				t.Errorf("TCP_NODELAY = %d on an accepted conn", v)
			}
		}},
		{"KeepAlive off", ListenConfig{KeepAlive: -1}, func(t *testing.T, _ net.Listener, conn net.Conn) {
			if v := getInt(t, conn, unix.SOL_SOCKET, unix.SO_KEEPALIVE); v != 0 {
				t.Errorf("SO_KEEPALIVE = %d", v)
			}
		}},
		{"KeepAlive 42s", ListenConfig{KeepAlive: 42e9}, func(t *testing.T, _ net.Listener, conn net.Conn) {
			if v := getInt(t, conn, unix.SOL_SOCKET, unix.SO_KEEPALIVE); v != 1 {
				t.Errorf("SO_KEEPALIVE = %d", v)
			}
			if v := getInt(t, conn, unix.IPPROTO_TCP, unix.TCP_KEEPIDLE); v != 42 {
				t.Errorf("TCP_KEEPIDLE = %d, want 42", v)
			}
		}},
		{"FastOpen", ListenConfig{FastOpen: 77}, func(t *testing.T, ln net.Listener, _ net.Conn) {
			if v := getInt(t, ln, unix.IPPROTO_TCP, unix.TCP_FASTOPEN); v != 77 {
				t.Errorf("TCP_FASTOPEN = %d, want 77", v)
			}
		}},
		{"Buffers", ListenConfig{RecvBuffer: buf, SendBuffer: buf}, func(t *testing.T, ln net.Listener, conn net.Conn) {
			for _, c := range []any{ln, conn} {
				if v := getInt(t, c, unix.SOL_SOCKET, unix.SO_RCVBUF); v < buf {
					t.Errorf("%T SO_RCVBUF = %d, want ≥ %d", c, v, buf)
				}
				if v := getInt(t, c, unix.SOL_SOCKET, unix.SO_SNDBUF); v < buf {
					t.Errorf("%T SO_SNDBUF = %d, want ≥ %d", c, v, buf)
				}
			}
		}},
		{"Backlog", ListenConfig{Backlog: 17}, func(*testing.T, net.Listener, net.Conn) {
			// The backlog cannot be read back; Listen succeeding and the
			// listener accepting is the test.
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lc := tc.lc
			lc.Network, lc.Address = "tcp", "127.0.0.1:0"
			ln := listen(t, &lc)
			_, conn := accepted(t, ln)
			tc.check(t, ln, conn)
		})
	}
}

// TestListenDeferAccept reads TCP_DEFER_ACCEPT back. (Accepting would need
// the client to send first, which the option is about.)
func TestListenDeferAccept(t *testing.T) {
	ln := listen(t, &ListenConfig{Network: "tcp", Address: "127.0.0.1:0", DeferAccept: 1500e6})
	if v := getInt(t, ln, unix.IPPROTO_TCP, unix.TCP_DEFER_ACCEPT); v < 2 {
		t.Errorf("TCP_DEFER_ACCEPT = %d, want ≥ 2 (1.5 s rounded up)", v)
	}
}

func TestListenReusePortTwice(t *testing.T) {
	first := listen(t, &ListenConfig{Network: "tcp", Address: "127.0.0.1:0", ReusePort: true})
	addr := first.Addr().String()
	second := listen(t, &ListenConfig{Network: "tcp", Address: addr, ReusePort: true})
	if second.Addr().String() != addr {
		t.Fatalf("second listener on %s, want %s", second.Addr(), addr)
	}
	// Without the option on the newcomer the kernel refuses the address.
	if ln, err := (&ListenConfig{Network: "tcp", Address: addr}).Listen(context.Background()); err == nil {
		ln.Close()
		t.Fatal("a listener without ReusePort bound a port already in use")
	}
}

func TestDialerSocketOptions(t *testing.T) {
	const buf = 300000
	ln := listen(t, &ListenConfig{Network: "tcp", Address: "127.0.0.1:0"})
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() { // echo one read, then hold until the client closes
				b := make([]byte, 64)
				n, _ := c.Read(b)
				c.Write(b[:n])
				for {
					if _, err := c.Read(b); err != nil {
						break
					}
				}
				c.Close()
			})
		}
	})
	for _, tc := range []struct {
		name  string
		d     Dialer
		check func(t *testing.T, c net.Conn)
	}{
		{"defaults", Dialer{}, func(t *testing.T, c net.Conn) {
			if v := getInt(t, c, unix.IPPROTO_TCP, unix.TCP_NODELAY); v == 0 {
				t.Error("TCP_NODELAY off by default")
			}
			if v := getInt(t, c, unix.IPPROTO_TCP, unix.TCP_FASTOPEN_CONNECT); v != 0 {
				t.Error("TCP_FASTOPEN_CONNECT on by default")
			}
		}},
		{"DisableNoDelay", Dialer{DisableNoDelay: true}, func(t *testing.T, c net.Conn) {
			if v := getInt(t, c, unix.IPPROTO_TCP, unix.TCP_NODELAY); v != 0 {
				t.Errorf("TCP_NODELAY = %d", v)
			}
		}},
		{"KeepAlive off", Dialer{KeepAlive: -1}, func(t *testing.T, c net.Conn) {
			if v := getInt(t, c, unix.SOL_SOCKET, unix.SO_KEEPALIVE); v != 0 {
				t.Errorf("SO_KEEPALIVE = %d", v)
			}
		}},
		{"KeepAlive 33s", Dialer{KeepAlive: 33e9}, func(t *testing.T, c net.Conn) {
			if v := getInt(t, c, unix.IPPROTO_TCP, unix.TCP_KEEPIDLE); v != 33 {
				t.Errorf("TCP_KEEPIDLE = %d", v)
			}
		}},
		{"FastOpen", Dialer{FastOpen: true}, func(t *testing.T, c net.Conn) {
			if v := getInt(t, c, unix.IPPROTO_TCP, unix.TCP_FASTOPEN_CONNECT); v != 1 {
				t.Errorf("TCP_FASTOPEN_CONNECT = %d", v)
			}
		}},
		{"Buffers", Dialer{RecvBuffer: buf, SendBuffer: buf}, func(t *testing.T, c net.Conn) {
			if v := getInt(t, c, unix.SOL_SOCKET, unix.SO_RCVBUF); v < buf {
				t.Errorf("SO_RCVBUF = %d, want ≥ %d", v, buf)
			}
			if v := getInt(t, c, unix.SOL_SOCKET, unix.SO_SNDBUF); v < buf {
				t.Errorf("SO_SNDBUF = %d, want ≥ %d", v, buf)
			}
		}},
		{"Source without port", Dialer{Source: "127.0.0.1"}, func(t *testing.T, c net.Conn) {
			if v := getInt(t, c, unix.IPPROTO_IP, unix.IP_BIND_ADDRESS_NO_PORT); v != 1 {
				t.Errorf("IP_BIND_ADDRESS_NO_PORT = %d", v)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := tc.d.DialContext(context.Background(), "tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			// The connection works (with FastOpen the handshake happens here).
			if _, err := c.Write([]byte("ping")); err != nil {
				t.Fatal(err)
			}
			b := make([]byte, 4)
			if _, err := c.Read(b); err != nil || string(b) != "ping" {
				t.Fatalf("echo: %q, %v", b, err)
			}
			tc.check(t, c)
		})
	}
}
