// Package testserve runs in-process TCP peers for tests and benchmarks:
// one call gives a loopback listener whose every connection is served by a
// function, torn down when the test ends.
package testserve

import (
	"net"
	"sync"
	"testing"
)

// TCP listens on 127.0.0.1:0 and runs fn on its own goroutine for every
// connection accepted, closing the connection when fn returns. When the
// test ends it closes the listener and waits for every fn to return (so fn
// must end once its peer closes). It returns the listener's address.
func TCP(tb testing.TB, fn func(c net.Conn)) string {
	tb.Helper()
	return TCPOn(tb, "127.0.0.1:0", fn)
}

// TCPOn is TCP on a given loopback address (to bring a peer back on the
// port it had).
func TCPOn(tb testing.TB, addr string, fn func(c net.Conn)) string {
	tb.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		tb.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				fn(c)
			}()
		}
	}()
	tb.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	return ln.Addr().String()
}
