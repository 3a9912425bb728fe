// Command virtual-upstream proxies TCP connections to an upstream that is
// not a socket: an in-process service reached through a vstream.Dialer.
// tcpproxy's upstream dial goes through vstream.DialFunc, so the balancer's
// "mem:upper" backend is a stream into a goroutine of this process, while
// any other backend address would still be dialled over TCP.
//
//	go run ./examples/virtual-upstream -listen 127.0.0.1:7001   # then: echo hi | nc -N 127.0.0.1 7001
//	go run ./examples/virtual-upstream -demo
//
// The in-process service serves a vstream.Listener with an ordinary accept
// loop; Listener.DialStream hands it one end of a vstream.Pipe per
// connection. Bytes between the client socket and the pipe are copied
// through buffers (splice needs sockets at both ends).
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/sluice-proxy/sluice/lb"
	"github.com/sluice-proxy/sluice/tcpproxy"
	"github.com/sluice-proxy/sluice/vstream"
)

// serviceAddr is the backend address the in-process service answers to.
const serviceAddr = "mem:upper"

func main() {
	listen := flag.String("listen", "127.0.0.1:7001", "TCP address to accept connections on")
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
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatal(err)
	}
	logger.Info("proxying to an in-process upstream", "addr", ln.Addr().String(), "upstream", serviceAddr)
	if err := run(ctx, ln, logger); err != nil {
		log.Fatal(err)
	}
}

// newProxy starts the in-process service and returns a tcpproxy whose
// upstream is that service, and a function that stops the service.
func newProxy(logger *slog.Logger) (*tcpproxy.Proxy, func(), error) {
	svc := vstream.NewListener(vstream.Addr{Net: "mem", Name: serviceAddr}, 16)
	go serveUpper(svc)

	var tcp net.Dialer
	dialer := vstream.DialerFunc(func(ctx context.Context, addr string) (vstream.Stream, error) {
		if addr == serviceAddr {
			return svc.DialStream(ctx, addr) // a Pipe into the service
		}
		return vstream.FromDialFunc(func(ctx context.Context, addr string) (net.Conn, error) {
			return tcp.DialContext(ctx, "tcp", addr)
		}).DialStream(ctx, addr)
	})

	bal, err := lb.New([]lb.BackendConfig{{Addr: serviceAddr}}, lb.RoundRobin)
	if err != nil {
		return nil, nil, err
	}
	p, err := tcpproxy.New(tcpproxy.Config{
		Name:      "virtual",
		Balancer:  bal,
		Dial:      vstream.DialFunc(dialer), // assignable to lb.DialFunc
		Logger:    logger,
		AccessLog: true,
	})
	if err != nil {
		svc.Close()
		return nil, nil, err
	}
	return p, func() { svc.Close() }, nil
}

// run proxies connections accepted on ln until ctx ends.
func run(ctx context.Context, ln net.Listener, logger *slog.Logger) error {
	p, stopService, err := newProxy(logger)
	if err != nil {
		return err
	}
	defer stopService()
	served := make(chan error, 1)
	go func() { served <- p.Serve(ctx, ln) }()
	<-ctx.Done()
	grace, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err = p.Shutdown(grace)
	if serr := <-served; err == nil {
		err = serr
	}
	return err
}

// serveUpper is the in-process service: it answers each connection with
// what it read, upper-cased, once the client has half-closed.
func serveUpper(ln *vstream.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			b, err := io.ReadAll(c)
			if err != nil {
				return
			}
			c.Write(bytes.ToUpper(b))
		}()
	}
}

// runDemo runs the proxy on a loopback port, sends one message through it
// over TCP, and prints the answer to out.
func runDemo(ctx context.Context, out io.Writer) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- run(ctx, ln, slog.New(slog.DiscardHandler)) }()
	defer func() {
		cancel()
		<-done
	}()

	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		return err
	}
	defer c.Close()
	msg := "hello, virtual upstream"
	if _, err := c.Write([]byte(msg)); err != nil {
		return err
	}
	c.(*net.TCPConn).CloseWrite()
	reply, err := io.ReadAll(c)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "sent %q over TCP, the in-process upstream answered %q\n", msg, reply)
	return nil
}
