package httpproxy_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"

	"github.com/sluice-proxy/sluice/httpproxy"
	"github.com/sluice-proxy/sluice/lb"
	"github.com/sluice-proxy/sluice/protocols/http1"
)

// LB is the Pingora blog's load balancer: round robin over a Balancer, and
// the Host header rewritten for the upstream. Balanced keeps the
// balancer's books: backends held per request, failures reported,
// failover within a request.
type LB struct {
	up *httpproxy.Balanced
}

func (p *LB) UpstreamPeer(ctx context.Context, s *httpproxy.Session) (*httpproxy.Peer, error) {
	return p.up.Pick(s)
}

func (p *LB) UpstreamRequestFilter(ctx context.Context, s *httpproxy.Session, req *http1.Request) error {
	req.Header.Set("Host", "origin.example")
	return nil
}

func Example() {
	// An origin to proxy to.
	oln, _ := net.Listen("tcp", "127.0.0.1:0")
	origin := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello from %s", r.Host)
	})}
	go origin.Serve(oln)
	defer origin.Close()

	bal, _ := lb.New([]lb.BackendConfig{{Addr: oln.Addr().String()}}, lb.RoundRobin)
	p := &LB{up: httpproxy.NewBalanced(bal, nil)}
	svc, _ := httpproxy.New(p, httpproxy.Config{Name: "web"})
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	go svc.Serve(context.Background(), ln)
	defer svc.Shutdown(context.Background())

	resp, err := http.Get("http://" + ln.Addr().String() + "/")
	if err != nil {
		fmt.Println(err)
		return
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Println(resp.StatusCode, string(body))
	// Output: 200 hello from origin.example
}
