// Command sluicehttp runs one httpproxy.Service in front of one upstream,
// for bench/run-http.sh while the sluice binary has no http: section: the
// same package the binary uses, with no access log, a Proxy that hands out
// one long-lived Peer, and the CPU profile and pprof endpoint of
// internal/profile.
//
//	sluicehttp -listen 127.0.0.1:16001 -upstream 127.0.0.1:17000 [-cpuprofile cpu.pprof] [-pprof 127.0.0.1:6060] [-log debug -access-log]
package main

import (
	"context"
	"flag"
	"log"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/sluice-proxy/sluice/bench/httpsidebyside/internal/profile"
	"github.com/sluice-proxy/sluice/httpproxy"
)

// onePeer sends every request to the same upstream.
type onePeer struct{ peer *httpproxy.Peer }

var _ httpproxy.Proxy = onePeer{}

// UpstreamPeer returns the one peer.
func (p onePeer) UpstreamPeer(context.Context, *httpproxy.Session) (*httpproxy.Peer, error) {
	return p.peer, nil
}

func main() {
	listen := flag.String("listen", "127.0.0.1:16001", "address to serve")
	upstream := flag.String("upstream", "127.0.0.1:17000", "upstream address")
	maxIdle := flag.Int("max-idle-per-peer", 0, "idle upstream connections kept (0: httpproxy's default)")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile to this file until exit")
	pprofAddr := flag.String("pprof", "", "serve net/http/pprof on this address")
	logLevel := flag.String("log", "off", "log to stderr at this level: debug | info | warn | error | off")
	accessLog := flag.Bool("access-log", false, "log every request (with -log info or debug)")
	flag.Parse()

	logger := slog.New(slog.DiscardHandler)
	if *logLevel != "off" {
		var level slog.Level
		if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
			log.Fatalf("sluicehttp: -log: %v", err)
		}
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	}

	stopProfile, err := profile.Start(*cpuprofile, *pprofAddr)
	if err != nil {
		log.Fatalf("sluicehttp: %v", err)
	}
	defer stopProfile()

	pool := httpproxy.NewPool(httpproxy.PoolConfig{MaxIdlePerPeer: *maxIdle})
	defer pool.Close()
	svc, err := httpproxy.New(onePeer{&httpproxy.Peer{Addr: *upstream}}, httpproxy.Config{Name: "bench", Pool: pool, Logger: logger, AccessLog: *accessLog})
	if err != nil {
		log.Fatalf("sluicehttp: %v", err)
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatalf("sluicehttp: %v", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := svc.Serve(ctx, ln); err != nil {
		log.Printf("sluicehttp: %v", err)
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := svc.Shutdown(sctx); err != nil {
		log.Printf("sluicehttp: %v", err)
	}
}
