// Command idleconns measures what an idle proxied connection costs a proxy in
// memory. It reads the proxy's memory (VmRSS and Pss, summed over the process
// and its descendants, so nginx's workers count), opens -conns connections
// through the proxy to an echo upstream, proves each one is live with a
// one-byte round trip, waits -settle, reads the memory again and divides the
// growth by the number of connections.
//
//	idleconns -addr 127.0.0.1:16001 -pid $(pgrep -o sluice) -conns 10000
//
// It prints one line of key=value pairs for scripts, e.g.
//
//	idleconns addr=127.0.0.1:16001 pid=123 procs=1 conns=10000 rss_before_kib=8000 rss_after_kib=98000 rss_kib_per_conn=9.00 pss_before_kib=7000 pss_after_kib=97000 pss_kib_per_conn=9.00 alive_after=10000
//
// Each connection takes one descriptor here and two in the proxy, so the
// proxy needs RLIMIT_NOFILE above 2×conns.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluice-proxy/sluice/bench/internal/procmem"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:17000", "address of the proxy, which forwards to an echo server")
	pid := flag.Int("pid", 0, "PID of the proxy (its descendants are included); 0 only opens and holds the connections")
	conns := flag.Int("conns", 10000, "connections to open and hold")
	parallel := flag.Int("parallel", 64, "concurrent dialers while opening")
	settle := flag.Duration("settle", 2*time.Second, "wait after opening before measuring")
	timeout := flag.Duration("timeout", 10*time.Second, "per-connection dial and echo timeout")
	flag.Parse()
	if *conns < 1 || *parallel < 1 {
		log.Fatal("idleconns: -conns and -parallel must be >= 1")
	}

	var before procmem.Mem
	if *pid != 0 {
		m, err := procmem.ReadTree(*pid)
		if err != nil {
			log.Fatalf("idleconns: %v", err)
		}
		before = m
	}

	cs, err := openConns(*addr, *conns, *parallel, *timeout)
	defer closeAll(cs)
	if err != nil {
		closeAll(cs)
		log.Fatalf("idleconns: opened %d of %d: %v", len(cs), *conns, err)
	}

	time.Sleep(*settle) // a benchmark tool: let the proxy finish its bookkeeping
	var after procmem.Mem
	if *pid != 0 {
		m, err := procmem.ReadTree(*pid)
		if err != nil {
			log.Fatalf("idleconns: %v", err)
		}
		after = m
	}
	alive := countAlive(cs, *parallel, *timeout)

	n := float64(len(cs))
	fmt.Printf("idleconns addr=%s pid=%d procs=%d conns=%d rss_before_kib=%d rss_after_kib=%d rss_kib_per_conn=%.2f pss_before_kib=%d pss_after_kib=%d pss_kib_per_conn=%.2f alive_after=%d\n",
		*addr, *pid, after.Procs, len(cs),
		before.RSSKiB, after.RSSKiB, float64(after.RSSKiB-before.RSSKiB)/n,
		before.PSSKiB, after.PSSKiB, float64(after.PSSKiB-before.PSSKiB)/n,
		alive)
	if alive != len(cs) {
		fmt.Fprintf(os.Stderr, "idleconns: only %d of %d connections still echo after measuring\n", alive, len(cs))
	}
}

// errShortEcho reports an echo that came back different from what was sent.
var errShortEcho = errors.New("echo mismatch")

// openConns dials n connections with at most parallel dials in flight and
// checks each with a one-byte echo. It stops at the first failure (a proxy
// out of descriptors would otherwise cost a timeout per remaining
// connection) and returns the connections opened so far with that error.
func openConns(addr string, n, parallel int, timeout time.Duration) ([]net.Conn, error) {
	cs := make([]net.Conn, n)
	errs := make([]error, n)
	work := make(chan int)
	var failed atomic.Bool
	var wg sync.WaitGroup
	for range parallel {
		wg.Add(1)
		go func() {
			defer wg.Done()
			openWorker(addr, timeout, work, cs, errs, &failed)
		}()
	}
	for i := range n {
		if failed.Load() {
			break
		}
		work <- i
	}
	close(work)
	wg.Wait()

	opened := cs[:0]
	var first error
	for i, c := range cs {
		if c != nil {
			opened = append(opened, c)
		}
		if first == nil && errs[i] != nil {
			first = fmt.Errorf("conn %d: %w", i, errs[i])
		}
	}
	return opened, first
}

// openWorker dials the connection for each index it receives and sets
// failed when one does not work.
func openWorker(addr string, timeout time.Duration, work <-chan int, cs []net.Conn, errs []error, failed *atomic.Bool) {
	for i := range work {
		c, err := net.DialTimeout("tcp", addr, timeout)
		if err != nil {
			errs[i] = fmt.Errorf("dial: %w", err)
			failed.Store(true)
			continue
		}
		if err := echoOnce(c, timeout); err != nil {
			c.Close()
			errs[i] = err
			failed.Store(true)
			continue
		}
		cs[i] = c
	}
}

// echoOnce sends one byte on c and waits for it to come back.
func echoOnce(c net.Conn, timeout time.Duration) error {
	if err := c.SetDeadline(time.Now().Add(timeout)); err != nil {
		return fmt.Errorf("set deadline: %w", err)
	}
	b := [1]byte{'i'}
	if _, err := c.Write(b[:]); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	if _, err := io.ReadFull(c, b[:]); err != nil {
		return fmt.Errorf("read: %w", err)
	}
	if b[0] != 'i' {
		return errShortEcho
	}
	return c.SetDeadline(time.Time{})
}

// countAlive repeats the echo on every connection and counts the successes.
func countAlive(cs []net.Conn, parallel int, timeout time.Duration) int {
	var mu sync.Mutex
	alive := 0
	work := make(chan net.Conn)
	var wg sync.WaitGroup
	for range parallel {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c := range work {
				if echoOnce(c, timeout) == nil {
					mu.Lock()
					alive++
					mu.Unlock()
				}
			}
		}()
	}
	for _, c := range cs {
		work <- c
	}
	close(work)
	wg.Wait()
	return alive
}

// closeAll closes every connection.
func closeAll(cs []net.Conn) {
	for _, c := range cs {
		c.Close()
	}
}
