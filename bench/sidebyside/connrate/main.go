// Command connrate measures new connections per second through a TCP path
// that echoes: each of -workers goroutines repeatedly connects, sends one
// byte, reads the one-byte echo and closes, for -duration. A connection
// counts only when its echo came back.
//
//	connrate -addr 127.0.0.1:16001 -workers 16 -duration 5s
//
// It prints one line of key=value pairs for scripts, e.g.
//
//	connrate addr=127.0.0.1:16001 workers=16 conns=61234 elapsed_s=5.001 conns_per_s=12245 p50_us=1200.3 p99_us=3100.0 max_us=9000.0 errors=0
//
// The client closes first, so its side holds TIME_WAIT; on loopback Linux
// reuses those ports (net.ipv4.tcp_tw_reuse=2, the default). -linger0
// closes with RST instead, for kernels where ports run out.
package main

import (
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
	workers := flag.Int("workers", 16, "concurrent connect/echo/close loops")
	duration := flag.Duration("duration", 5*time.Second, "measurement duration")
	timeout := flag.Duration("timeout", 5*time.Second, "per-connection timeout (dial, write and read)")
	linger0 := flag.Bool("linger0", false, "close with RST (SO_LINGER 0) instead of FIN")
	flag.Parse()
	if *workers < 1 {
		log.Fatal("connrate: -workers must be >= 1")
	}

	results := make([]workerResult, *workers)
	var wg sync.WaitGroup
	start := time.Now()
	end := start.Add(*duration)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = connectWorker(*addr, end, *timeout, *linger0)
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)

	parts := make([]stats.Samples, len(results))
	var errs int
	var firstErr error
	for i, r := range results {
		parts[i] = r.samples
		errs += r.errs
		if firstErr == nil {
			firstErr = r.firstErr
		}
	}
	sum := stats.Merge(parts...).Summarize()
	fmt.Printf("connrate addr=%s workers=%d conns=%d elapsed_s=%.3f conns_per_s=%.0f p50_us=%.1f p99_us=%.1f max_us=%.1f errors=%d\n",
		*addr, *workers, sum.Count, elapsed.Seconds(), float64(sum.Count)/elapsed.Seconds(),
		stats.Micros(sum.P50), stats.Micros(sum.P99), stats.Micros(sum.Max), errs)
	if firstErr != nil {
		fmt.Fprintf(os.Stderr, "connrate: first error (of %d): %v\n", errs, firstErr)
	}
	if sum.Count == 0 {
		os.Exit(1)
	}
}

// workerResult is what one worker's loop reports.
type workerResult struct {
	samples  stats.Samples
	errs     int
	firstErr error
}

// connectWorker opens, uses and closes connections until end.
func connectWorker(addr string, end time.Time, timeout time.Duration, linger0 bool) workerResult {
	res := workerResult{samples: make(stats.Samples, 0, 1<<14)}
	d := net.Dialer{Timeout: timeout}
	for {
		t0 := time.Now()
		if !t0.Before(end) {
			return res
		}
		if err := oneConn(&d, addr, t0.Add(timeout), linger0); err != nil {
			res.errs++
			if res.firstErr == nil {
				res.firstErr = err
			}
			continue
		}
		res.samples.Add(time.Since(t0))
	}
}

// oneConn does one connect, 1-byte echo, close cycle.
func oneConn(d *net.Dialer, addr string, deadline time.Time, linger0 bool) error {
	c, err := d.Dial("tcp", addr)
	if err != nil {
		return fmt.Errorf("dial: %w", err)
	}
	defer c.Close()
	if linger0 {
		if tc, ok := c.(*net.TCPConn); ok {
			if err := tc.SetLinger(0); err != nil {
				return fmt.Errorf("set linger: %w", err)
			}
		}
	}
	if err := c.SetDeadline(deadline); err != nil {
		return fmt.Errorf("set deadline: %w", err)
	}
	var b [1]byte
	b[0] = 'x'
	if _, err := c.Write(b[:]); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	if _, err := io.ReadFull(c, b[:]); err != nil {
		return fmt.Errorf("read: %w", err)
	}
	return nil
}
