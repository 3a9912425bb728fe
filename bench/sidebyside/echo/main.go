// Command echo is the shared upstream of the side-by-side TCP benchmarks: it
// writes back every byte it reads, one goroutine per connection, with a
// plain read/write loop (the cheapest path for the small messages the
// benchmarks send; bulk throughput is measured with iperf3, not here).
//
// Every proxy under test forwards to the same echo server, so its cost is
// the same in every row and the ratios stay fair.
//
//	echo -listen 127.0.0.1:17000
package main

import (
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:17000", "address to listen on")
	bufSize := flag.Int("buf", 16<<10, "per-connection read buffer in bytes")
	flag.Parse()

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatalf("echo: %v", err)
	}
	fmt.Fprintf(os.Stderr, "echo: listening on %s\n", ln.Addr())

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	go closeOnSignal(ln, sig)

	if err := acceptLoop(ln, *bufSize); err != nil && !errors.Is(err, net.ErrClosed) {
		log.Fatalf("echo: %v", err)
	}
}

// closeOnSignal closes ln when a signal arrives, which ends acceptLoop.
func closeOnSignal(ln net.Listener, sig <-chan os.Signal) {
	<-sig
	ln.Close()
}

// acceptLoop serves every accepted connection until ln is closed. Running
// out of descriptors is survivable: it backs off briefly and retries.
func acceptLoop(ln net.Listener, bufSize int) error {
	for {
		c, err := ln.Accept()
		if err != nil {
			if errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) {
				log.Printf("echo: accept: %v (backing off)", err)
				time.Sleep(10 * time.Millisecond)
				continue
			}
			return fmt.Errorf("accept: %w", err)
		}
		go serveEcho(c, bufSize)
	}
}

// serveEcho echoes c until the peer closes or an error occurs.
func serveEcho(c net.Conn, bufSize int) {
	defer c.Close()
	buf := make([]byte, bufSize)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			if _, werr := c.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}
