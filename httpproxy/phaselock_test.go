package httpproxy

import (
	"context"
	"io"
	"net/http"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/sluice-proxy/sluice/protocols/http1"
)

// turnTaker counts, in its per-request value (a plain struct, no lock),
// the calls of RequestBodyFilter and of the response phases, and notes any
// call made while another phase of the request was running.
type turnTaker struct {
	static
	inside   atomic.Bool
	overlaps atomic.Int32
	done     chan turns
}

type turns struct{ req, resp int }

func (p *turnTaker) enter(s *Session, req bool) {
	if p.inside.Swap(true) {
		p.overlaps.Add(1)
	}
	if req {
		s.Ctx.(*turns).req++
	} else {
		s.Ctx.(*turns).resp++
	}
	runtime.Gosched() // widen the window another phase could run in
	p.inside.Store(false)
}

func (p *turnTaker) NewCtx() any { return new(turns) }
func (p *turnTaker) RequestBodyFilter(_ context.Context, s *Session, b []byte, _ bool) ([]byte, error) {
	p.enter(s, true)
	return b, nil
}
func (p *turnTaker) UpstreamResponseFilter(_ context.Context, s *Session, _ *http1.Response) error {
	p.enter(s, false)
	return nil
}
func (p *turnTaker) ResponseFilter(_ context.Context, s *Session, _ *http1.Response) error {
	p.enter(s, false)
	return nil
}
func (p *turnTaker) ResponseBodyFilter(_ context.Context, s *Session, b []byte, _ bool) ([]byte, error) {
	p.enter(s, false)
	return b, nil
}
func (p *turnTaker) Logging(_ context.Context, s *Session, _ error) { p.done <- *s.Ctx.(*turns) }

// TestPhasesTakeTurns streams a request body while the upstream already
// streams its answer (full duplex), so RequestBodyFilter, on the body
// goroutine, and the response phases are due at the same time: they must
// take turns (no overlap seen; the race detector sees no race on the
// request's unlocked state).
func TestPhasesTakeTurns(t *testing.T) {
	const size = 1 << 20
	up := newOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.NewResponseController(w).EnableFullDuplex()
		read := make(chan struct{})
		go func() {
			io.Copy(io.Discard, r.Body)
			close(read)
		}()
		w.Header().Set("Content-Length", "1048576")
		piece := strings.Repeat("r", 16<<10)
		for i := 0; i < size/len(piece); i++ {
			if i == size/len(piece)-1 {
				<-read // the answer ends after the whole body came
			}
			io.WriteString(w, piece)
			http.NewResponseController(w).Flush()
		}
	}))
	p := &turnTaker{static: static{&Peer{Addr: up.addr}}, done: make(chan turns, 1)}
	h := startService(t, p, Config{})
	c := dialProxy(t, h.addr)
	c.send("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1048576\r\n\r\n")
	sent := make(chan error, 1)
	go func() {
		piece := strings.Repeat("q", 16<<10)
		for i := 0; i < size/len(piece); i++ {
			if _, err := io.WriteString(c.c, piece); err != nil {
				sent <- err
				return
			}
		}
		sent <- nil
	}()
	resp, body := c.response("POST")
	if err := <-sent; err != nil {
		t.Fatalf("sending the body: %v", err)
	}
	if resp.StatusCode != 200 || len(body) != size {
		t.Fatalf("got %d with %d body bytes", resp.StatusCode, len(body))
	}
	got := <-p.done
	if got.req < 2 || got.resp < 3 {
		t.Fatalf("phases ran %d (request body) and %d (response) times: the body did not stream both ways", got.req, got.resp)
	}
	if n := p.overlaps.Load(); n > 0 {
		t.Fatalf("%d phase calls overlapped another phase of the same request", n)
	}
}
