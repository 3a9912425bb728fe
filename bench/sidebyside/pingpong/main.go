// Command pingpong measures request/response transactions per second and
// their latency through a TCP path that echoes: each of -conns connections
// sends -size bytes, waits for the same -size bytes to come back, and
// repeats, for -duration. All connections are dialled before the clock
// starts, so connection set-up is not part of the figure.
//
//	pingpong -addr 127.0.0.1:16001 -conns 16 -size 64 -duration 5s
//
// It prints one line of key=value pairs for scripts, e.g.
//
//	pingpong addr=127.0.0.1:16001 conns=16 size=64 tx=812345 elapsed_s=5.000 tx_per_s=162469 p50_us=95.1 p99_us=210.3 max_us=4120.0 errors=0
package main

import (
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"sync"
	"time"

	"github.com/sluice-proxy/sluice/bench/sidebyside/internal/stats"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:17000", "echoing address to load (a proxy in front of the echo server)")
	conns := flag.Int("conns", 16, "concurrent connections")
	size := flag.Int("size", 64, "message size in bytes (at least 8)")
	duration := flag.Duration("duration", 5*time.Second, "measurement duration")
	timeout := flag.Duration("timeout", 10*time.Second, "dial and per-transaction timeout")
	flag.Parse()
	if *size < 8 || *conns < 1 {
		log.Fatal("pingpong: -size must be >= 8 and -conns >= 1")
	}

	cs := make([]net.Conn, *conns)
	for i := range cs {
		c, err := net.DialTimeout("tcp", *addr, *timeout)
		if err != nil {
			log.Fatalf("pingpong: dial %d: %v", i, err)
		}
		defer c.Close()
		cs[i] = c
	}

	results := make([]workerResult, *conns)
	var wg sync.WaitGroup
	start := time.Now()
	end := start.Add(*duration)
	for i, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = pingPongWorker(c, *size, end, *timeout)
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)

	parts := make([]stats.Samples, len(results))
	var errs int
	var firstErr error
	for i, r := range results {
		parts[i] = r.samples
		if r.err != nil {
			errs++
			if firstErr == nil {
				firstErr = r.err
			}
		}
	}
	sum := stats.Merge(parts...).Summarize()
	fmt.Printf("pingpong addr=%s conns=%d size=%d tx=%d elapsed_s=%.3f tx_per_s=%.0f p50_us=%.1f p99_us=%.1f max_us=%.1f errors=%d\n",
		*addr, *conns, *size, sum.Count, elapsed.Seconds(), float64(sum.Count)/elapsed.Seconds(),
		stats.Micros(sum.P50), stats.Micros(sum.P99), stats.Micros(sum.Max), errs)
	if firstErr != nil {
		fmt.Fprintf(os.Stderr, "pingpong: first error: %v\n", firstErr)
		os.Exit(1)
	}
}

// workerResult is what one connection's loop reports.
type workerResult struct {
	samples stats.Samples
	err     error
}

// errMismatch reports an echo that did not return the bytes that were sent.
var errMismatch = errors.New("echo mismatch")

// pingPongWorker runs transactions on c until end, recording each one's
// round-trip time. Each message carries a sequence number that must come
// back unchanged.
func pingPongWorker(c net.Conn, size int, end time.Time, timeout time.Duration) workerResult {
	out := make([]byte, size)
	in := make([]byte, size)
	for i := range out {
		out[i] = byte(i)
	}
	res := workerResult{samples: make(stats.Samples, 0, 1<<16)}
	if err := c.SetDeadline(end.Add(timeout)); err != nil {
		res.err = fmt.Errorf("set deadline: %w", err)
		return res
	}
	for seq := uint64(0); ; seq++ {
		binary.LittleEndian.PutUint64(out, seq)
		t0 := time.Now()
		if _, err := c.Write(out); err != nil {
			res.err = fmt.Errorf("write: %w", err)
			return res
		}
		if _, err := io.ReadFull(c, in); err != nil {
			res.err = fmt.Errorf("read: %w", err)
			return res
		}
		t1 := time.Now()
		if binary.LittleEndian.Uint64(in) != seq {
			res.err = fmt.Errorf("transaction %d: %w", seq, errMismatch)
			return res
		}
		res.samples.Add(t1.Sub(t0))
		if !t1.Before(end) {
			return res
		}
	}
}
