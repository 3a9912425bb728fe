// Command tlsbulk measures one-way bulk throughput through a proxy that
// terminates TLS in front of a cleartext upstream: the client writes over
// TLS for -duration, the sink (run with -sink) reads and drops.
//
//	tlsbulk -sink 127.0.0.1:17100                      # the upstream
//	tlsbulk -addr 127.0.0.1:16001 -duration 5s         # through the proxy
//
// The client prints one line of key=value pairs for scripts:
//
//	tlsbulk addr=127.0.0.1:16001 conns=1 bytes=... elapsed_s=5.000 gbit_s=3.21
package main

import (
	"crypto/tls"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	sink := flag.String("sink", "", "listen here and drop what arrives (the upstream)")
	addr := flag.String("addr", "", "TLS address to write to (the proxy)")
	conns := flag.Int("conns", 1, "parallel connections")
	duration := flag.Duration("duration", 5*time.Second, "measurement duration")
	sni := flag.String("sni", "localhost", "server name")
	flag.Parse()
	if *sink != "" {
		runSink(*sink)
		return
	}
	if *addr == "" {
		log.Fatal("tlsbulk: -addr or -sink is required")
	}
	cfg := &tls.Config{ServerName: *sni, InsecureSkipVerify: true, CurvePreferences: []tls.CurveID{tls.X25519}}
	var total atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	end := start.Add(*duration)
	for range *conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := tls.Dial("tcp", *addr, cfg)
			if err != nil {
				log.Fatalf("tlsbulk: %v", err)
			}
			defer c.Close()
			buf := make([]byte, 256<<10)
			for time.Now().Before(end) {
				n, err := c.Write(buf)
				total.Add(int64(n))
				if err != nil {
					log.Fatalf("tlsbulk: write: %v", err)
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	fmt.Printf("tlsbulk addr=%s conns=%d bytes=%d elapsed_s=%.3f gbit_s=%.3f\n",
		*addr, *conns, total.Load(), elapsed.Seconds(), float64(total.Load())*8/elapsed.Seconds()/1e9)
}

// runSink accepts connections on addr and drops what they send.
func runSink(addr string) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		log.Fatal(err)
	}
	for {
		c, err := ln.Accept()
		if err != nil {
			log.Fatal(err)
		}
		go func() {
			defer c.Close()
			io.Copy(io.Discard, c)
		}()
	}
}
