// Command udpload measures echoed datagrams per second through a UDP proxy
// (or straight to the echo): -flows client sockets, each keeping -inflight
// datagrams of -size bytes in flight, sending a new one for every echo it
// reads. Reads and writes are batched (recvmmsg/sendmmsg) so that the load
// generator takes as little of the shared CPUs as it can. A flow that hears
// nothing for -loss-timeout counts what it had in flight as lost and sends
// a fresh window, so a proxy that drops datagrams is slowed, not stalled.
//
// With -offload each flow sends its datagrams as one UDP GSO message and
// receives with UDP GRO, as a QUIC client does; every datagram still counts
// on its own.
//
//	udpload -addr 127.0.0.1:16001 -flows 8 -inflight 8 -size 256 -duration 5s
//
// It prints one line of key=value pairs for scripts:
//
//	udpload addr=127.0.0.1:16001 flows=8 inflight=8 size=256 seconds=5.00 datagrams=1000000 datagrams_per_s=200000 p50_us=300 p99_us=900 lost=0 bad=0
package main

import (
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/ipv4"

	"github.com/sluice-proxy/sluice/bench/udpsidebyside/internal/offload"
)

// histogram counts round-trip times in microseconds, 1 µs resolution up to
// 100 ms, everything slower in the last bucket.
type histogram [100001]uint64

func (h *histogram) add(d time.Duration) {
	us := d.Microseconds()
	if us < 0 {
		us = 0
	}
	if us >= int64(len(h)) {
		us = int64(len(h) - 1)
	}
	h[us]++
}

func (h *histogram) merge(o *histogram) {
	for i := range h {
		h[i] += o[i]
	}
}

// quantile returns the q-quantile in µs.
func (h *histogram) quantile(q float64) int {
	var total uint64
	for _, c := range h {
		total += c
	}
	if total == 0 {
		return 0
	}
	want := uint64(q * float64(total))
	var acc uint64
	for i, c := range h {
		acc += c
		if acc > want {
			return i
		}
	}
	return len(h) - 1
}

type flowResult struct {
	got, lost, bad uint64
	hist           histogram
}

func main() {
	addr := flag.String("addr", "127.0.0.1:16001", "proxy (or echo) address")
	flows := flag.Int("flows", 8, "client sockets, each its own source port")
	inflight := flag.Int("inflight", 8, "datagrams in flight per flow")
	size := flag.Int("size", 256, "datagram size in bytes (at least 16)")
	duration := flag.Duration("duration", 5*time.Second, "measured time")
	warmup := flag.Duration("warmup", time.Second, "unmeasured time before")
	gso := flag.Bool("offload", false, "send with UDP GSO, receive with UDP GRO")
	lossTimeout := flag.Duration("loss-timeout", 200*time.Millisecond, "silence after which a flow's datagrams in flight count as lost")
	flag.Parse()
	if *flows < 1 || *inflight < 1 || *size < 16 {
		log.Fatal("udpload: -flows and -inflight must be >= 1, -size >= 16")
	}
	ra, err := net.ResolveUDPAddr("udp", *addr)
	if err != nil {
		log.Fatalf("udpload: %v", err)
	}
	start := time.Now()
	measureFrom := start.Add(*warmup)
	end := measureFrom.Add(*duration)
	var measuring atomic.Bool
	results := make([]*flowResult, *flows)
	var wg sync.WaitGroup
	errs := make(chan error, *flows)
	for i := range results {
		c, err := net.DialUDP("udp", nil, ra)
		if err != nil {
			log.Fatalf("udpload: %v", err)
		}
		c.SetReadBuffer(1 << 20)
		if *gso && !offload.EnableGRO(c) {
			log.Fatal("udpload: -offload: no UDP GRO here")
		}
		r := &flowResult{}
		results[i] = r
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.Close()
			if err := runFlow(c, r, start, end, *inflight, *size, *lossTimeout, *gso, &measuring); err != nil {
				errs <- err
			}
		}()
	}
	time.Sleep(time.Until(measureFrom)) // a benchmark tool: the warm-up is a duration
	measuring.Store(true)
	time.Sleep(time.Until(end))
	measuring.Store(false)
	elapsed := time.Since(measureFrom).Seconds()
	wg.Wait()
	close(errs)
	for err := range errs {
		log.Fatalf("udpload: %v", err)
	}
	total := &flowResult{}
	for _, r := range results {
		total.got += r.got
		total.lost += r.lost
		total.bad += r.bad
		total.hist.merge(&r.hist)
	}
	if elapsed > duration.Seconds() {
		elapsed = duration.Seconds()
	}
	fmt.Printf("udpload addr=%s flows=%d inflight=%d size=%d seconds=%.2f datagrams=%d datagrams_per_s=%.0f p50_us=%d p99_us=%d lost=%d bad=%d\n",
		*addr, *flows, *inflight, *size, elapsed, total.got, float64(total.got)/elapsed,
		total.hist.quantile(0.5), total.hist.quantile(0.99), total.lost, total.bad)
	if total.got == 0 {
		fmt.Fprintln(os.Stderr, "udpload: no datagram came back")
		os.Exit(1)
	}
}

// runFlow keeps inflight datagrams in flight on c until end. Each datagram
// carries its send time (ns since start) in its first 8 bytes.
func runFlow(c *net.UDPConn, r *flowResult, start, end time.Time, inflight, size int, lossTimeout time.Duration, gso bool, measuring *atomic.Bool) error {
	pc := ipv4.NewPacketConn(c)
	batch := max(inflight, 64)
	rmsgs := make([]ipv4.Message, batch)
	for i := range rmsgs {
		rmsgs[i].Buffers = [][]byte{make([]byte, 65536)}
		rmsgs[i].OOB = make([]byte, offload.Space)
	}
	wmsgs := make([]ipv4.Message, inflight)
	for i := range wmsgs {
		wmsgs[i].Buffers = [][]byte{make([]byte, size)}
	}
	// With -offload the whole window goes as one message of segments.
	gsoMsg := []ipv4.Message{{Buffers: make([][]byte, inflight), OOB: make([]byte, offload.Space)}}
	out := 0
	send := func(n int) error {
		now := int64(time.Since(start))
		for i := 0; i < n; i++ {
			binary.LittleEndian.PutUint64(wmsgs[i].Buffers[0], uint64(now))
		}
		if gso && n > 1 {
			m := &gsoMsg[0]
			m.Buffers = m.Buffers[:0]
			for i := 0; i < n; i++ {
				m.Buffers = append(m.Buffers, wmsgs[i].Buffers[0])
			}
			m.OOB = offload.Segment(m.OOB[:cap(m.OOB)], size)
			if _, err := pc.WriteBatch(gsoMsg, 0); err != nil {
				return err
			}
			out += n
			return nil
		}
		for sent := 0; sent < n; {
			k, err := pc.WriteBatch(wmsgs[sent:n], 0)
			if err != nil {
				return err
			}
			sent += k
		}
		out += n
		return nil
	}
	if err := send(inflight); err != nil {
		return err
	}
	deadline := time.Time{}
	for {
		now := time.Now()
		if now.After(end) {
			return nil
		}
		if d := now.Add(lossTimeout); deadline.Sub(now) < lossTimeout/2 {
			deadline = d
			c.SetReadDeadline(deadline)
		}
		n, err := pc.ReadBatch(rmsgs, 0)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				if measuring.Load() {
					r.lost += uint64(out)
				}
				out = 0
				if err := send(inflight); err != nil {
					return err
				}
				continue
			}
			return err
		}
		recvAt := time.Since(start)
		on := measuring.Load()
		got := 0
		for i := 0; i < n; i++ {
			m := &rmsgs[i]
			seg := offload.GRO(m.OOB[:m.NN])
			if seg <= 0 || seg > m.N {
				seg = max(m.N, 1)
			}
			for o := 0; o < m.N || (m.N == 0 && o == 0); o += seg {
				got++
				d := m.Buffers[0][o:min(o+seg, m.N)]
				if !on {
					continue
				}
				if len(d) != size {
					r.bad++
					continue
				}
				r.got++
				r.hist.add(recvAt - time.Duration(binary.LittleEndian.Uint64(d)))
			}
		}
		n = got
		// Replace what came back; a late echo of a window already counted
		// lost is not replaced, so the window never grows past inflight.
		repl := min(n, out)
		out -= repl
		if err := send(min(repl, inflight-out)); err != nil {
			return err
		}
	}
}
