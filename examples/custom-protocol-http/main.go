// Command custom-protocol-http serves HTTP/1.1 carried over a custom
// protocol: each vmux stream (protocols/vmux, many streams over one TCP
// connection) is an HTTP connection, and enters the same httpproxy
// pipeline as a socket would. The vmux server delivers its streams to a
// vstream.Listener, and httpproxy.Service.Serve accepts from it: phases,
// pooling, metrics and draining are the ones TCP clients get.
//
//	go run ./examples/custom-protocol-http -listen 127.0.0.1:7443 -upstream 127.0.0.1:8000
//	go run ./examples/custom-protocol-http -demo
//
// A client opens vmux streams and speaks HTTP/1.1 on each; in Go, an
// http.Transport whose DialContext opens a stream does it (see newClient).
// -demo is self-contained: it starts an origin and the proxy on loopback
// ports, sends requests over one vmux connection, prints the answers, and
// exits.
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
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/sluice-proxy/sluice/httpproxy"
	"github.com/sluice-proxy/sluice/protocols/http1"
	"github.com/sluice-proxy/sluice/protocols/vmux"
	"github.com/sluice-proxy/sluice/vstream"
)

// toOrigin sends every request to one upstream and marks it as having come
// over vmux.
type toOrigin struct{ peer *httpproxy.Peer }

// UpstreamPeer returns the origin.
func (p toOrigin) UpstreamPeer(ctx context.Context, s *httpproxy.Session) (*httpproxy.Peer, error) {
	return p.peer, nil
}

// UpstreamRequestFilter adds Via, naming the protocol the request came in.
func (toOrigin) UpstreamRequestFilter(ctx context.Context, s *httpproxy.Session, req *http1.Request) error {
	req.Header.Add("Via", "1.1 sluice (over vmux)")
	return nil
}

var (
	_ httpproxy.Proxy                 = toOrigin{}
	_ httpproxy.UpstreamRequestFilter = toOrigin{}
)

func main() {
	listen := flag.String("listen", "127.0.0.1:7443", "TCP address to accept vmux connections on")
	upstream := flag.String("upstream", "", "HTTP origin (host:port)")
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
	if *upstream == "" {
		log.Fatal("custom-protocol-http: -upstream is required (or -demo)")
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	logger.Info("serving HTTP over vmux", "addr", ln.Addr().String(), "upstream", *upstream)
	if err := run(ctx, ln, *upstream, logger); err != nil {
		log.Fatal(err)
	}
}

// run accepts vmux connections on ln and proxies the HTTP requests on
// their streams to upstream until ctx ends; then it drains for up to five
// seconds: requests in flight finish, and the vmux sessions end once their
// streams have.
func run(ctx context.Context, ln net.Listener, upstream string, logger *slog.Logger) error {
	svc, err := httpproxy.New(toOrigin{&httpproxy.Peer{Addr: upstream}}, httpproxy.Config{
		Name:      "vmux-http",
		Logger:    logger,
		AccessLog: true,
	})
	if err != nil {
		return err
	}
	// The vmux server delivers every stream to vl; the Service accepts
	// from vl as from a socket listener.
	vl := vstream.NewListener(vstream.Addr{Net: "vmux", Name: ln.Addr().String()}, 64)
	var wg sync.WaitGroup
	wg.Add(2)
	go serveVmux(ln, vl, logger, &wg)
	go serveHTTP(svc, vl, logger, &wg)

	<-ctx.Done()
	grace, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	// Shutdown closes vl, which makes vmux.Serve send GOAWAY and return
	// once the sessions' open streams are done.
	err = svc.Shutdown(grace)
	wg.Wait()
	return err
}

// serveVmux runs the vmux server until vl is closed. Its context is never
// cancelled, so that sessions drain instead of being cut.
func serveVmux(ln net.Listener, vl *vstream.Listener, logger *slog.Logger, wg *sync.WaitGroup) {
	defer wg.Done()
	err := vmux.Serve(context.Background(), ln, vl, vmux.Config{OnClose: func(s *vmux.Session, err error) {
		logger.Info("vmux session ended", "peer", s.RemoteAddr().String(), "reason", vmux.Reason(err))
	}})
	if err != nil && !errors.Is(err, context.Canceled) {
		logger.Error("vmux serve", "error", err)
	}
}

// serveHTTP runs the HTTP pipeline on the streams of vl until Shutdown.
func serveHTTP(svc *httpproxy.Service, vl *vstream.Listener, logger *slog.Logger, wg *sync.WaitGroup) {
	defer wg.Done()
	if err := svc.Serve(context.Background(), vl); err != nil {
		logger.Error("http serve", "error", err)
	}
}

// newClient returns an HTTP client whose connections are streams of one
// vmux session over a TCP connection to addr. With keepAlive false, each
// request gets a stream of its own.
func newClient(addr string, keepAlive bool) (*http.Client, *vmux.Session, error) {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, nil, err
	}
	sess := vmux.Client(conn, vmux.Config{})
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return sess.Open(ctx)
		},
		DisableKeepAlives: !keepAlive,
	}
	return &http.Client{Transport: tr}, sess, nil
}

// runDemo starts an origin and the proxy, sends requests over one vmux
// connection (three at once, each on its own stream, then three on one
// kept-alive stream), prints the answers to out, and stops everything.
func runDemo(ctx context.Context, out io.Writer) error {
	originLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	origin := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "origin saw %s %s, Via: %s", r.Method, r.URL.Path, r.Header.Get("Via"))
	}), ReadHeaderTimeout: 5 * time.Second}
	go origin.Serve(originLn)
	defer origin.Close()

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- run(ctx, ln, originLn.Addr().String(), slog.New(slog.DiscardHandler)) }()
	defer func() {
		cancel()
		<-done
	}()

	// Three requests at once, a stream each.
	client, sess, err := newClient(ln.Addr().String(), false)
	if err != nil {
		return err
	}
	defer sess.Close()
	answers := make([]string, 3)
	errs := make([]error, 3)
	var wg sync.WaitGroup
	for i := range answers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			answers[i], errs[i] = fetch(client, fmt.Sprintf("http://vmux/parallel/%d", i))
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	for i, a := range answers {
		fmt.Fprintf(out, "GET /parallel/%d -> %s\n", i, a)
	}
	fmt.Fprintf(out, "%d requests at once: %d vmux streams over one TCP connection\n", len(answers), sess.Stats().StreamsOpened)

	// Three requests in turn on one kept-alive stream.
	client, sess2, err := newClient(ln.Addr().String(), true)
	if err != nil {
		return err
	}
	defer sess2.Close()
	for i := range 3 {
		a, err := fetch(client, fmt.Sprintf("http://vmux/keepalive/%d", i))
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "GET /keepalive/%d -> %s\n", i, a)
	}
	fmt.Fprintf(out, "3 requests in turn: %d vmux stream, kept alive\n", sess2.Stats().StreamsOpened)
	client.Transport.(*http.Transport).CloseIdleConnections()
	return nil
}

// fetch GETs url and returns "STATUS BODY".
func fetch(c *http.Client, url string) (string, error) {
	resp, err := c.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	return resp.Status + " " + string(body), nil
}
