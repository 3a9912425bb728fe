// Command sluiceudp runs one udpproxy service from flags, for
// bench/run-udp.sh while `sluice forward -udp` is not wired: the same
// package the binary will use, with no access log.
//
//	sluiceudp -listen 127.0.0.1:16001 -upstream 127.0.0.1:17000
package main

import (
	"context"
	"flag"
	"log"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/sluice-proxy/sluice/lb"
	"github.com/sluice-proxy/sluice/udpproxy"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:16001", "address to serve")
	upstreams := flag.String("upstream", "127.0.0.1:17000", "upstream addresses, comma-separated")
	workers := flag.Int("workers", 0, "event loops (0: GOMAXPROCS)")
	idle := flag.Duration("idle", 5*time.Minute, "session idle timeout")
	maxSessions := flag.Int("max-sessions", udpproxy.DefaultMaxSessions, "session table bound")
	proxyV2 := flag.Bool("proxy-v2", false, "prepend a PROXY v2 header to datagrams sent upstream")
	noOffload := flag.Bool("no-offload", false, "do not use UDP GRO/GSO")
	logLevel := flag.String("log-level", "warn", "debug | info | warn | error (debug logs every drop and closed session)")
	flag.Parse()
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		log.Fatalf("sluiceudp: -log-level: %v", err)
	}
	var ups []lb.BackendConfig
	for _, u := range strings.Split(*upstreams, ",") {
		ups = append(ups, lb.BackendConfig{Addr: u})
	}
	cfg := udpproxy.Config{
		Name:           "bench",
		Listen:         []string{*listen},
		Upstreams:      ups,
		IdleTimeout:    *idle,
		MaxSessions:    *maxSessions,
		Workers:        *workers,
		DisableOffload: *noOffload,
		Logger:         slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})),
	}
	if *proxyV2 {
		cfg.ProxyOut = 2
	}
	p, err := udpproxy.New(cfg)
	if err != nil {
		log.Fatalf("sluiceudp: %v", err)
	}
	if err := p.Listen(); err != nil {
		log.Fatalf("sluiceudp: %v", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := p.Serve(ctx); err != nil {
		log.Fatalf("sluiceudp: %v", err)
	}
}
