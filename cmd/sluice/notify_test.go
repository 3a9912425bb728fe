package main

import (
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestSystemdNotify: with NOTIFY_SOCKET set, sluice says READY=1 once it
// serves, RELOADING=1 (with MONOTONIC_USEC) then READY=1 around a reload,
// and STOPPING=1 when it drains.
func TestSystemdNotify(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "notify.sock")
	pc, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	t.Setenv("NOTIFY_SOCKET", sock)
	next := func() string {
		t.Helper()
		pc.SetReadDeadline(time.Now().Add(hangGuard))
		buf := make([]byte, 512)
		n, err := pc.Read(buf)
		if err != nil {
			t.Fatalf("no notification: %v", err)
		}
		return string(buf[:n])
	}
	path := filepath.Join(dir, "sluice.yaml")
	conf := fmt.Sprintf("log: {level: error}\nmetrics: {listen: \"127.0.0.1:0\"}\ntcp:\n  - name: fw\n    listen: [\"127.0.0.1:0\"]\n    upstreams: [{addr: %q}]\n", echoServer(t))
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	a, stop := runFileStop(t, path, io.Discard)
	if m := next(); m != "READY=1" {
		t.Fatalf("first notification %q, want READY=1", m)
	}
	if code, body := postReload(t, a.metricsL.Addr().String()); code != 200 {
		t.Fatalf("reload: %d %q", code, body)
	}
	if m := next(); !strings.HasPrefix(m, "RELOADING=1\nMONOTONIC_USEC=") {
		t.Fatalf("at a reload %q, want RELOADING=1 with MONOTONIC_USEC", m)
	}
	if m := next(); m != "READY=1" {
		t.Fatalf("after a reload %q, want READY=1", m)
	}
	stop()
	if m := next(); m != "STOPPING=1" {
		t.Fatalf("at shutdown %q, want STOPPING=1", m)
	}
}
