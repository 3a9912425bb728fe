// Package rawhttp is the least HTTP/1.1 the HTTP benchmarks need: an origin
// that answers every request head with one fixed response, and a keep-alive
// client that sends one fixed GET and reads a Content-Length-framed
// response. Neither allocates per request, so what a benchmark measures
// through a proxy is the proxy.
//
//	ln, _ := net.Listen("tcp", "127.0.0.1:0")
//	o := rawhttp.NewOrigin(ln, rawhttp.Response(1024))
//	go o.Serve()
//	defer o.Close()
//	c, _ := rawhttp.Dial(ln.Addr().String())
//	status, n, err := c.Get()
//
// It is no general HTTP implementation: request bodies are not read (every
// request is taken for a body-less GET) and chunked responses are refused.
package rawhttp

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
)

// Response returns a 200 response with a body of size bytes of 'x' and
// Content-Length framing.
func Response(size int) []byte {
	head := "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: " + strconv.Itoa(size) + "\r\n\r\n"
	return append([]byte(head), bytes.Repeat([]byte("x"), size)...)
}

// Origin answers every request head on every connection with the same
// response bytes, keeping connections alive until the client closes or
// sends Connection: close.
type Origin struct {
	ln   net.Listener
	resp []byte

	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup
}

// NewOrigin returns an Origin that will serve resp on ln.
func NewOrigin(ln net.Listener, resp []byte) *Origin {
	return &Origin{ln: ln, resp: resp, conns: make(map[net.Conn]struct{})}
}

// Serve accepts connections until Close; it returns nil then, or the
// accept error that ended it.
func (o *Origin) Serve() error {
	for {
		c, err := o.ln.Accept()
		if err != nil {
			o.mu.Lock()
			closed := o.closed
			o.mu.Unlock()
			if closed {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return fmt.Errorf("rawhttp: accept: %w", err)
		}
		o.mu.Lock()
		if o.closed {
			o.mu.Unlock()
			c.Close()
			return nil
		}
		o.conns[c] = struct{}{}
		o.wg.Add(1)
		o.mu.Unlock()
		go o.serveConn(c)
	}
}

// Close stops Serve, closes every connection and waits for their
// goroutines.
func (o *Origin) Close() error {
	o.mu.Lock()
	o.closed = true
	err := o.ln.Close()
	for c := range o.conns {
		c.Close()
	}
	o.mu.Unlock()
	o.wg.Wait()
	return err
}

// serveConn answers request heads on c until it fails or asks to close.
func (o *Origin) serveConn(c net.Conn) {
	defer o.wg.Done()
	defer func() {
		o.mu.Lock()
		delete(o.conns, c)
		o.mu.Unlock()
		c.Close()
	}()
	br := bufio.NewReaderSize(c, 4096)
	for {
		closeAfter, err := readHead(br)
		if err != nil {
			return
		}
		if _, err := c.Write(o.resp); err != nil || closeAfter {
			return
		}
	}
}

var (
	connectionField = []byte("connection:")
	closeToken      = []byte("close")
)

// readHead reads one request head and reports whether it asked to close.
func readHead(br *bufio.Reader) (closeAfter bool, err error) {
	first := true
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return false, err
		}
		if len(line) <= 2 && (len(line) == 1 || line[0] == '\r') {
			if first {
				continue // tolerated empty line before a request
			}
			return closeAfter, nil
		}
		first = false
		if hasFieldPrefix(line, connectionField) && containsFold(line, closeToken) {
			closeAfter = true
		}
	}
}

// hasFieldPrefix reports whether line starts with name (lower case, with
// its colon), ignoring case.
func hasFieldPrefix(line, name []byte) bool {
	if len(line) < len(name) {
		return false
	}
	for i, b := range name {
		c := line[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != b {
			return false
		}
	}
	return true
}

// containsFold reports whether s contains lower (lower case), ignoring
// case, without allocating.
func containsFold(s, lower []byte) bool {
	for i := 0; i+len(lower) <= len(s); i++ {
		if hasFieldPrefix(s[i:], lower) {
			return true
		}
	}
	return false
}
