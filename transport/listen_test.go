package transport

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// accepted dials ln and returns both ends; they are closed at cleanup.
func accepted(t *testing.T, ln net.Listener) (client, server net.Conn) {
	t.Helper()
	type res struct {
		c   net.Conn
		err error
	}
	ch := make(chan res, 1)
	go func() {
		c, err := ln.Accept()
		ch <- res{c, err}
	}()
	client, err := net.Dial(ln.Addr().Network(), ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	r := <-ch
	if r.err != nil {
		t.Fatal(r.err)
	}
	t.Cleanup(func() { r.c.Close() })
	return client, r.c
}

func listen(t *testing.T, lc *ListenConfig) net.Listener {
	t.Helper()
	ln, err := lc.Listen(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

func TestListenRejectsBadConfig(t *testing.T) {
	for _, tc := range []struct {
		name string
		lc   ListenConfig
		want string
	}{
		{"unknown network", ListenConfig{Network: "udp", Address: "127.0.0.1:0"}, "unsupported network"},
		{"empty network", ListenConfig{Address: "127.0.0.1:0"}, "unsupported network"},
		{"unix with ReusePort", ListenConfig{Network: "unix", Address: "x.sock", ReusePort: true}, "TCP only"},
		{"unix with KeepAlive", ListenConfig{Network: "unix", Address: "x.sock", KeepAlive: -1}, "TCP only"},
		{"unix with FastOpen", ListenConfig{Network: "unix", Address: "x.sock", FastOpen: 5}, "TCP only"},
		{"negative backlog", ListenConfig{Network: "tcp", Address: "127.0.0.1:0", Backlog: -1}, "negative"},
		{"negative buffer", ListenConfig{Network: "tcp", Address: "127.0.0.1:0", RecvBuffer: -1}, "negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ln, err := tc.lc.Listen(context.Background())
			if err == nil {
				ln.Close()
				t.Fatal("Listen succeeded")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tc.want)
			}
		})
	}
}

func TestListenUnix(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.sock")
	ln := listen(t, &ListenConfig{Network: "unix", Address: path, Backlog: 8, RecvBuffer: 1 << 16})
	client, server := accepted(t, ln)
	if _, err := client.Write([]byte("hi")); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 2)
	if _, err := server.Read(b); err != nil || string(b) != "hi" {
		t.Fatalf("read %q, %v", b, err)
	}
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("socket file left after Close: %v", err)
	}
}

// staleSocket leaves a socket file at path with nothing listening on it.
func staleSocket(t *testing.T, path string) {
	t.Helper()
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ln.SetUnlinkOnClose(false)
	ln.Close()
	fi, err := os.Lstat(path)
	if err != nil || fi.Mode().Type() != os.ModeSocket {
		t.Fatalf("no stale socket at %s: %v", path, err)
	}
}

func TestListenUnixStaleSocket(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.sock")
	staleSocket(t, path)
	// Plain net.Listen fails on the stale file: the test is meaningful.
	if ln, err := net.Listen("unix", path); err == nil {
		ln.Close()
		t.Fatal("net.Listen succeeded over a stale socket")
	}
	ln := listen(t, &ListenConfig{Network: "unix", Address: path})
	accepted(t, ln)
}

func TestListenUnixLiveSocketKept(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.sock")
	live, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer live.Close()
	go func() { // answer Listen's probe
		for {
			c, err := live.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	if ln, err := (&ListenConfig{Network: "unix", Address: path}).Listen(context.Background()); err == nil {
		ln.Close()
		t.Fatal("Listen took over a live socket")
	} else if !errors.Is(err, syscall.EADDRINUSE) {
		t.Fatalf("err = %v, want EADDRINUSE", err)
	}
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatalf("the live listener was disturbed: %v", err)
	}
	c.Close()
}

func TestListenUnixRegularFileKept(t *testing.T) {
	path := filepath.Join(t.TempDir(), "not-a-socket")
	if err := os.WriteFile(path, []byte("data"), 0o600); err != nil {
		t.Fatal(err)
	}
	if ln, err := (&ListenConfig{Network: "unix", Address: path}).Listen(context.Background()); err == nil {
		ln.Close()
		t.Fatal("Listen replaced a regular file")
	}
	if b, err := os.ReadFile(path); err != nil || string(b) != "data" {
		t.Fatalf("regular file changed: %q, %v", b, err)
	}
}

func TestListenNagleListenerKeepsTCPListener(t *testing.T) {
	ln := listen(t, &ListenConfig{Network: "tcp", Address: "127.0.0.1:0", DisableNoDelay: true})
	u, ok := ln.(interface{ Unwrap() net.Listener })
	if !ok {
		t.Fatalf("%T has no Unwrap", ln)
	}
	if _, ok := u.Unwrap().(*net.TCPListener); !ok {
		t.Fatalf("Unwrap gave %T", u.Unwrap())
	}
	if _, ok := ln.(interface{ File() (*os.File, error) }); !ok {
		t.Fatal("wrapped listener lost File (needed for handover)")
	}
}
