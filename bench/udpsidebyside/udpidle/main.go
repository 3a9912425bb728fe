// Command udpidle measures what an idle UDP session costs a proxy in memory.
// It reads the proxy's memory (VmRSS and Pss, summed over the process and
// its descendants, so nginx's workers count), then creates -sessions
// sessions: each from its own source address (127.x.y.z, a fixed port, so
// no two collide), each proven by one echoed datagram, after which the
// client socket is closed — the proxy's session stays until its idle
// timeout. It waits -settle, reads the memory again and divides the growth
// by the number of sessions.
//
//	udpidle -addr 127.0.0.1:16001 -pid $(pgrep -o sluiceudp) -sessions 50000
//
// It prints one line of key=value pairs for scripts:
//
//	udpidle addr=127.0.0.1:16001 pid=123 procs=1 sessions=50000 rss_before_kib=8000 rss_after_kib=38000 rss_kib_per_session=0.60 pss_before_kib=7000 pss_after_kib=37000 pss_kib_per_session=0.60
//
// The proxy holds one socket per session, so it needs RLIMIT_NOFILE above
// -sessions; this tool holds at most -parallel sockets at once.
package main

import (
	"flag"
	"fmt"
	"log"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluice-proxy/sluice/bench/internal/procmem"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:16001", "address of the proxy, which forwards to an echo server")
	pid := flag.Int("pid", 0, "PID of the proxy (its descendants are included); 0 only creates the sessions")
	sessions := flag.Int("sessions", 50000, "sessions to create")
	parallel := flag.Int("parallel", 32, "concurrent clients while creating")
	settle := flag.Duration("settle", 2*time.Second, "wait after creating before measuring")
	timeout := flag.Duration("timeout", 5*time.Second, "per-session echo timeout")
	port := flag.Int("port", 41000, "source port of every client (the source IPs differ)")
	flag.Parse()
	if *sessions < 1 || *parallel < 1 || *sessions > 250*256*256 {
		log.Fatal("udpidle: -sessions must be 1..16M, -parallel >= 1")
	}
	ra, err := net.ResolveUDPAddr("udp", *addr)
	if err != nil {
		log.Fatalf("udpidle: %v", err)
	}
	var before procmem.Mem
	if *pid != 0 {
		if before, err = procmem.ReadTree(*pid); err != nil {
			log.Fatalf("udpidle: %v", err)
		}
	}
	var next, failed atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	for range *parallel {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 64)
			for {
				i := next.Add(1) - 1
				if i >= int64(*sessions) || failed.Load() > 0 {
					return
				}
				if err := oneSession(sourceIP(int(i)), *port, ra, buf, *timeout); err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, fmt.Errorf("session %d: %w", i, err))
					return
				}
			}
		}()
	}
	wg.Wait()
	if failed.Load() > 0 {
		log.Fatalf("udpidle: created %d of %d: %v", min(next.Load(), int64(*sessions))-failed.Load(), *sessions, firstErr.Load())
	}
	time.Sleep(*settle) // a benchmark tool: let the proxy finish its bookkeeping
	var after procmem.Mem
	if *pid != 0 {
		if after, err = procmem.ReadTree(*pid); err != nil {
			log.Fatalf("udpidle: %v", err)
		}
	}
	n := float64(*sessions)
	fmt.Printf("udpidle addr=%s pid=%d procs=%d sessions=%d rss_before_kib=%d rss_after_kib=%d rss_kib_per_session=%.2f pss_before_kib=%d pss_after_kib=%d pss_kib_per_session=%.2f\n",
		*addr, *pid, after.Procs, *sessions,
		before.RSSKiB, after.RSSKiB, float64(after.RSSKiB-before.RSSKiB)/n,
		before.PSSKiB, after.PSSKiB, float64(after.PSSKiB-before.PSSKiB)/n)
}

// sourceIP is the i-th client address: 127.1.0.1, 127.1.0.2, … skipping
// the .0 and .255 of each /24.
func sourceIP(i int) net.IP {
	host := i%254 + 1
	net24 := i / 254
	return net.IPv4(127, byte(1+net24/256), byte(net24%256), byte(host))
}

// oneSession sends one datagram from ip:port and waits for its echo.
func oneSession(ip net.IP, port int, to *net.UDPAddr, buf []byte, timeout time.Duration) error {
	c, err := net.DialUDP("udp", &net.UDPAddr{IP: ip, Port: port}, to)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(timeout))
	if _, err := c.Write([]byte("idle")); err != nil {
		return err
	}
	if _, err := c.Read(buf); err != nil {
		return err
	}
	return nil
}
