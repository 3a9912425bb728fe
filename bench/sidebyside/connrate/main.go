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
// -tls makes each connection a full TLS 1.3 handshake (no resumption, the
// server's certificate not verified: the client's cost kept low; X25519
// key exchange), with -sni as the server name: handshakes per second
// through a terminating proxy.
//
// The client closes first, so its side holds TIME_WAIT; on loopback Linux
// reuses those ports (net.ipv4.tcp_tw_reuse=2, the default). -linger0
// closes with RST instead, for kernels where ports run out.
package main

import (
	"crypto/tls"
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
	useTLS := flag.Bool("tls", false, "a full TLS 1.3 handshake on each connection")
	sni := flag.String("sni", "localhost", "server name for -tls")
	flag.Parse()
	if *useTLS {
		// X25519 only, as OpenSSL 3.0 clients (curl, wrk) offer: Go's
		// default hybrid X25519MLKEM768 would make the proxies under test
		// do different work (HAProxy with OpenSSL 3.0 has no ML-KEM).
		tlsConfig = &tls.Config{ServerName: *sni, InsecureSkipVerify: true, MinVersion: tls.VersionTLS13,
			SessionTicketsDisabled: true, CurvePreferences: []tls.CurveID{tls.X25519}}
	}
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

// tlsConfig, when set (-tls), wraps every connection in TLS.
var tlsConfig *tls.Config

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
	if tlsConfig != nil {
		tc := tls.Client(c, tlsConfig)
		if err := tc.Handshake(); err != nil {
			return fmt.Errorf("tls handshake: %w", err)
		}
		c = tc
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
