//go:build linux

package udpproxy

import (
	"net"
	"testing"
	"time"
)

// TestDatagramPathAllocatesNothing counts the whole process's allocations
// over round trips through an established session, PROXY header and all:
// the client, the echo (ReadFromUDPAddrPort/WriteToUDPAddrPort) and the
// worker must all allocate nothing.
func TestDatagramPathAllocatesNothing(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	up, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer up.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 65536)
		for {
			n, from, err := up.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			up.WriteToUDPAddrPort(buf[:n], from)
		}
	}()
	defer func() { up.Close(); <-done }()
	h := startProxy(t, Config{Upstreams: backends(up.LocalAddr().String()), ProxyOut: 2}, nil)
	c := dial(t, nil, h.addr)
	c.SetReadDeadline(time.Now().Add(time.Minute))
	msg, buf := make([]byte, 100), make([]byte, 2048)
	roundTrip := func() {
		if _, err := c.Write(msg); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Read(buf); err != nil {
			t.Fatal(err)
		}
	}
	for range 10 { // the session, the metric series, the pools
		roundTrip()
	}
	if n := testing.AllocsPerRun(200, roundTrip); n != 0 {
		t.Errorf("%v allocations per round trip", n)
	}
}
