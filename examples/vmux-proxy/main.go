// Command vmux-proxy puts vmux in front of plain TCP services: it accepts
// vmux connections and proxies every stream on them to a TCP upstream with
// tcpproxy, exactly as tcpproxy proxies TCP connections. The vmux streams
// reach tcpproxy through a vstream.Listener, so the accept loop, filters,
// load balancing, metrics and relaying are the ones sockets get.
//
//	go run ./examples/vmux-proxy -listen 127.0.0.1:7000 -upstream 127.0.0.1:5432,127.0.0.1:5433
//	go run ./examples/vmux-proxy -demo
//
// -demo is self-contained: it starts an echo upstream and the proxy on
// loopback ports, opens a few streams through one vmux connection, prints
// what comes back, and exits.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/sluice-proxy/sluice/lb"
	"github.com/sluice-proxy/sluice/protocols/vmux"
	"github.com/sluice-proxy/sluice/tcpproxy"
	"github.com/sluice-proxy/sluice/vstream"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:7000", "TCP address to accept vmux connections on")
	upstreams := flag.String("upstream", "", "comma-separated TCP upstreams (host:port)")
	demo := flag.Bool("demo", false, "run a self-contained demo and exit")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))

	if *demo {
		if err := runDemo(ctx, os.Stdout); err != nil {
			log.Fatal(err)
		}
		return
	}
	if *upstreams == "" {
		log.Fatal("vmux-proxy: -upstream is required (or -demo)")
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatal(err)
	}
	logger.Info("accepting vmux", "addr", ln.Addr().String(), "upstreams", *upstreams)
	if err := run(ctx, ln, strings.Split(*upstreams, ","), logger); err != nil {
		log.Fatal(err)
	}
}

// run accepts vmux connections on ln and proxies their streams to
// upstreams until ctx ends, then drains for up to five seconds.
func run(ctx context.Context, ln net.Listener, upstreams []string, logger *slog.Logger) error {
	var backends []lb.BackendConfig
	for _, u := range upstreams {
		backends = append(backends, lb.BackendConfig{Addr: strings.TrimSpace(u)})
	}
	bal, err := lb.New(backends, lb.RoundRobin)
	if err != nil {
		return err
	}
	proxy, err := tcpproxy.New(tcpproxy.Config{
		Name:        "vmux",
		Balancer:    bal,
		IdleTimeout: 5 * time.Minute,
		Logger:      logger,
		AccessLog:   true,
	})
	if err != nil {
		return err
	}

	// Streams from vmux sessions go to vl; tcpproxy serves vl as it
	// serves a TCP listener.
	vl := vstream.NewListener(vstream.Addr{Net: "vmux", Name: ln.Addr().String()}, 64)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		err := vmux.Serve(ctx, ln, vl, vmux.Config{OnClose: func(s *vmux.Session, err error) {
			logger.Info("vmux session ended", "peer", s.RemoteAddr().String(), "reason", vmux.Reason(err), "error", err)
		}})
		if err != nil && !errors.Is(err, context.Canceled) {
			logger.Error("vmux serve", "error", err)
		}
	}()
	go func() {
		defer wg.Done()
		if err := proxy.Serve(ctx, vl); err != nil {
			logger.Error("tcpproxy serve", "error", err)
		}
	}()

	<-ctx.Done()
	grace, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err = proxy.Shutdown(grace)
	vl.Close()
	wg.Wait()
	return err
}

// runDemo starts an echo upstream and the proxy, sends three streams over
// one vmux connection, prints the answers to out, and stops everything.
func runDemo(ctx context.Context, out io.Writer) error {
	upstream, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer upstream.Close()
	go serveEcho(upstream)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, ln, []string{upstream.Addr().String()}, slog.New(slog.DiscardHandler))
	}()
	defer func() {
		cancel()
		<-done
	}()

	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		return err
	}
	sess := vmux.Client(conn, vmux.Config{})
	defer sess.Close()
	results := make([]string, 3)
	var wg sync.WaitGroup
	var firstErr error
	var mu sync.Mutex
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, err := echoOver(ctx, sess, fmt.Sprintf("hello %d", i))
			mu.Lock()
			defer mu.Unlock()
			if err != nil && firstErr == nil {
				firstErr = err
			}
			results[i] = got
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	for i, r := range results {
		fmt.Fprintf(out, "sent %q, got %q\n", fmt.Sprintf("hello %d", i), r)
	}
	// The session counts a write once its writer has sent it, which can be
	// after the echo came back: closing it first makes the counts final.
	sess.Close()
	st := sess.Stats()
	fmt.Fprintf(out, "%d streams over one connection, %d bytes each way\n", st.StreamsOpened, st.BytesSent)
	return nil
}

// echoOver sends msg on a new stream of sess, half-closes, and returns
// what comes back.
func echoOver(ctx context.Context, sess *vmux.Session, msg string) (string, error) {
	st, err := sess.Open(ctx)
	if err != nil {
		return "", err
	}
	defer st.Close()
	if _, err := st.Write([]byte(msg)); err != nil {
		return "", err
	}
	if err := st.CloseWrite(); err != nil {
		return "", err
	}
	b, err := io.ReadAll(st)
	return string(b), err
}

// serveEcho echoes every connection on ln until ln is closed.
func serveEcho(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			io.Copy(c, c)
		}()
	}
}
