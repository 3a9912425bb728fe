// Command udpecho is the UDP upstream of bench/run-udp.sh: it sends every
// datagram back to where it came from, reading and writing in batches
// (recvmmsg/sendmmsg through golang.org/x/net/ipv4) so that it costs as
// little of the shared CPUs as possible. It is the same for every target.
//
// With -offload it also receives with UDP GRO and replies to runs of
// equal-size datagrams from one sender with one UDP GSO message, as a QUIC
// server does; the datagrams it echoes are still exactly those it received.
//
//	udpecho -listen 127.0.0.1:17000
package main

import (
	"flag"
	"log"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"syscall"

	"golang.org/x/net/ipv4"

	"github.com/sluice-proxy/sluice/bench/udpsidebyside/internal/offload"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:17000", "address to echo on")
	batch := flag.Int("batch", 64, "datagrams per recvmmsg/sendmmsg")
	gso := flag.Bool("offload", false, "receive with UDP GRO, reply with UDP GSO")
	flag.Parse()
	c, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.MustParseAddrPort(*listen)))
	if err != nil {
		log.Fatalf("udpecho: %v", err)
	}
	c.SetReadBuffer(4 << 20)
	c.SetWriteBuffer(4 << 20)
	if *gso && !offload.EnableGRO(c) {
		log.Fatal("udpecho: -offload: no UDP GRO here")
	}
	if *gso {
		go serveOffload(ipv4.NewPacketConn(c), *batch)
	} else {
		go serve(ipv4.NewPacketConn(c), *batch)
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
	c.Close()
}

// serve echoes until the socket is closed.
func serve(pc *ipv4.PacketConn, batch int) {
	msgs := make([]ipv4.Message, batch)
	for i := range msgs {
		msgs[i].Buffers = [][]byte{make([]byte, 65536)}
	}
	out := make([]ipv4.Message, batch)
	for i := range out {
		out[i].Buffers = make([][]byte, 1)
	}
	for {
		n, err := pc.ReadBatch(msgs, 0)
		if err != nil {
			return
		}
		for i := 0; i < n; i++ {
			out[i].Buffers[0] = msgs[i].Buffers[0][:msgs[i].N]
			out[i].Addr = msgs[i].Addr
		}
		writeAll(pc, out[:n])
	}
}

// writeAll sends msgs; on an error it drops the rest, as UDP may.
func writeAll(pc *ipv4.PacketConn, msgs []ipv4.Message) {
	for sent := 0; sent < len(msgs); {
		k, err := pc.WriteBatch(msgs[sent:], 0)
		if err != nil {
			return
		}
		sent += k
	}
}

// serveOffload echoes with GRO and GSO: a coalesced datagram goes back as
// one GSO message with the same segment size, and consecutive datagrams
// from one sender of one size go back as one GSO message too.
func serveOffload(pc *ipv4.PacketConn, batch int) {
	msgs := make([]ipv4.Message, batch)
	for i := range msgs {
		msgs[i].Buffers = [][]byte{make([]byte, 65536)}
		msgs[i].OOB = make([]byte, offload.Space)
	}
	out := make([]ipv4.Message, batch)
	oobs := make([][]byte, batch)
	for i := range out {
		oobs[i] = make([]byte, offload.Space)
	}
	for {
		n, err := pc.ReadBatch(msgs, 0)
		if err != nil {
			return
		}
		k := 0
		for i := 0; i < n; {
			m := &msgs[i]
			seg := offload.GRO(m.OOB[:m.NN])
			if seg == 0 || seg > m.N {
				seg = m.N
			}
			o := &out[k]
			o.Addr = m.Addr
			o.Buffers = append(o.Buffers[:0], m.Buffers[0][:m.N])
			total, segs := m.N, (m.N+seg-1)/max(seg, 1)
			i++
			// Fold in the following single datagrams of the same size from
			// the same sender while the message stays a valid GSO one.
			if seg > 0 && m.N%seg == 0 {
				for i < n && msgs[i].N == seg && offload.GRO(msgs[i].OOB[:msgs[i].NN]) == 0 &&
					sameAddr(msgs[i].Addr, m.Addr) && segs < 64 && total+seg <= 60000 {
					o.Buffers = append(o.Buffers, msgs[i].Buffers[0][:seg])
					total += seg
					segs++
					i++
				}
			}
			o.OOB = nil
			if segs > 1 {
				o.OOB = offload.Segment(oobs[k], seg)
			}
			k++
		}
		writeAll(pc, out[:k])
	}
}

func sameAddr(a, b net.Addr) bool {
	ua, ok1 := a.(*net.UDPAddr)
	ub, ok2 := b.(*net.UDPAddr)
	return ok1 && ok2 && ua.Port == ub.Port && ua.IP.Equal(ub.IP)
}
