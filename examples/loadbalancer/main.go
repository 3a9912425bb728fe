// Command loadbalancer is the load balancer of Pingora's announcement
// ("Open sourcing Pingora", the quick-start example) in Go with httpproxy:
// a round-robin lb.Balancer in a struct, UpstreamPeer returning the next
// backend, UpstreamRequestFilter setting Host.
//
//	go run ./examples/loadbalancer -listen 127.0.0.1:6188 -upstream 127.0.0.1:8000,127.0.0.1:8001
//	go run ./examples/loadbalancer -demo
//
// -demo is self-contained: it starts two origins and the load balancer on
// loopback ports, sends a few requests through it, prints which origin
// answered each, and exits.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/sluice-proxy/sluice/httpproxy"
	"github.com/sluice-proxy/sluice/lb"
	"github.com/sluice-proxy/sluice/protocols/http1"
)

// LB balances requests round robin over its upstreams and sends them with
// Host set to host. httpproxy.Balanced keeps the balancer's books: the
// backend is held while a request uses it, a backend that refuses
// connections is reported (passive health) and failed over within the
// request.
type LB struct {
	up   *httpproxy.Balanced
	host string
}

// NewLB returns an LB over upstreams (host:port).
func NewLB(host string, upstreams ...string) (*LB, error) {
	var backends []lb.BackendConfig
	for _, u := range upstreams {
		backends = append(backends, lb.BackendConfig{Addr: u})
	}
	bal, err := lb.New(backends, lb.RoundRobin)
	if err != nil {
		return nil, err
	}
	return &LB{up: httpproxy.NewBalanced(bal, nil), host: host}, nil
}

// UpstreamPeer returns the next backend.
func (p *LB) UpstreamPeer(ctx context.Context, s *httpproxy.Session) (*httpproxy.Peer, error) {
	return p.up.Pick(s)
}

// UpstreamRequestFilter sets Host on the request sent upstream.
func (p *LB) UpstreamRequestFilter(ctx context.Context, s *httpproxy.Session, req *http1.Request) error {
	req.Header.Set("Host", p.host)
	return nil
}

var (
	_ httpproxy.Proxy                 = (*LB)(nil)
	_ httpproxy.UpstreamRequestFilter = (*LB)(nil)
)

func main() {
	listen := flag.String("listen", "127.0.0.1:6188", "address to serve HTTP on")
	upstreams := flag.String("upstream", "", "comma-separated upstreams (host:port)")
	host := flag.String("host", "one.one.one.one", "Host sent upstream")
	demo := flag.Bool("demo", false, "run a self-contained demo and exit")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	if *demo {
		if err := runDemo(ctx, os.Stdout); err != nil {
			log.Fatal(err)
		}
		return
	}
	if *upstreams == "" {
		log.Fatal("loadbalancer: -upstream is required (or -demo)")
	}
	p, err := NewLB(*host, strings.Split(*upstreams, ",")...)
	if err != nil {
		log.Fatal(err)
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	logger.Info("load balancing", "addr", ln.Addr().String(), "upstreams", *upstreams)
	if err := serve(ctx, p, ln, logger); err != nil {
		log.Fatal(err)
	}
}

// serve runs the proxy on ln, with health checks, until ctx ends; then it
// lets requests in flight finish for up to five seconds.
func serve(ctx context.Context, p *LB, ln net.Listener, logger *slog.Logger) error {
	svc, err := httpproxy.New(p, httpproxy.Config{Name: "lb", Logger: logger, AccessLog: true})
	if err != nil {
		return err
	}
	checks := make(chan struct{})
	go func() {
		defer close(checks)
		p.up.Balancer().RunHealthChecks(ctx, lb.HealthCheck{Interval: time.Second})
	}()
	served := make(chan error, 1)
	go func() { served <- svc.Serve(context.Background(), ln) }()
	<-ctx.Done()
	grace, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err = svc.Shutdown(grace)
	<-checks
	if serr := <-served; err == nil {
		err = serr
	}
	return err
}

// runDemo starts two origins and the load balancer, sends four requests
// through it, prints the answers to out, and stops everything.
func runDemo(ctx context.Context, out io.Writer) error {
	var upstreams []string
	for i := range 2 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		name := fmt.Sprint(i + 1)
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, "origin %s, Host: %s", name, r.Host)
		}), ReadHeaderTimeout: 5 * time.Second}
		go srv.Serve(l)
		defer srv.Close()
		upstreams = append(upstreams, l.Addr().String())
	}
	p, err := NewLB("one.one.one.one", upstreams...)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- serve(ctx, p, ln, slog.New(slog.DiscardHandler)) }()
	defer func() {
		cancel()
		<-done
	}()

	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	for i := range 4 {
		resp, err := client.Get(fmt.Sprintf("http://%s/%d", ln.Addr(), i))
		if err != nil {
			return err
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "GET /%d -> %s %s\n", i, resp.Status, body)
	}
	return nil
}
