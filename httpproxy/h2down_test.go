package httpproxy

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	xh2 "golang.org/x/net/http2"

	"github.com/sluice-proxy/sluice/internal/testcert"
	"github.com/sluice-proxy/sluice/shell"
	"github.com/sluice-proxy/sluice/transport"
)

// h2Origin answers GET with its path and a trailer-free body, and echoes a
// POST's body with a trailer; it is an HTTP/1.1 origin.
func h2Origin(t *testing.T) *origin {
	return newOrigin(t, h2Handler())
}

// h2Handler is h2Origin's handler.
func h2Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == "POST" {
			// The whole body first: an answer that starts while the body
			// still streams is an early answer to the pipeline (it drops
			// the rest), as for HTTP/1.1.
			data, _ := io.ReadAll(r.Body)
			w.Header().Set("Trailer", "X-Sum")
			w.Write(data)
			w.Header().Set("X-Sum", fmt.Sprint(len(data)))
			return
		}
		w.Header().Set("X-Proto-Seen", r.Proto)
		fmt.Fprintf(w, "origin %s %s cookie=%q", r.Method, r.URL.Path, r.Header.Get("Cookie"))
	})
}

// h2cClient speaks HTTP/2 with prior knowledge, from x/net.
func h2cClient(t *testing.T, tlsConfig *tls.Config) *http.Client {
	tr := &xh2.Transport{TLSClientConfig: tlsConfig}
	if tlsConfig == nil {
		tr.AllowHTTP = true
		tr.DialTLSContext = func(ctx context.Context, network, addr string, _ *tls.Config) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		}
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: safety}
}

// h2Exercise runs GETs (with split cookies), a POST with and without a
// length echoed with its trailer, and concurrent streams through base.
func h2Exercise(t *testing.T, c *http.Client, base string) {
	t.Helper()
	h2ExerciseTo(t, c, base, "HTTP/1.1")
}

// h2ExerciseTo is h2Exercise where the origin speaks originProto.
func h2ExerciseTo(t *testing.T, c *http.Client, base, originProto string) {
	t.Helper()
	req, _ := http.NewRequest("GET", base+"/a", nil)
	req.Header.Add("Cookie", "a=1")
	req.Header.Add("Cookie", "b=2")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.ProtoMajor != 2 || resp.StatusCode != 200 || !strings.HasPrefix(string(b), "origin GET /a") || resp.Header.Get("X-Proto-Seen") != originProto {
		t.Fatalf("GET over h2: %s %d %q %v", resp.Proto, resp.StatusCode, b, resp.Header)
	}
	if !strings.Contains(string(b), `cookie="a=1; b=2"`) {
		t.Errorf("cookies reached the origin as %q", b)
	}
	payload := bytes.Repeat([]byte("0123456789abcdef"), 32<<10) // 512 KiB
	for _, known := range []bool{true, false} {
		var body io.Reader = bytes.NewReader(payload)
		if !known {
			body = io.MultiReader(body) // no length: chunked to the origin
		}
		resp, err := c.Post(base+"/echo", "application/octet-stream", body)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || !bytes.Equal(got, payload) {
			t.Fatalf("POST (length known %v): %d bytes back, %v, trailer %v", known, len(got), err, resp.Trailer)
		}
		if resp.Trailer.Get("X-Sum") != fmt.Sprint(len(payload)) {
			t.Errorf("POST (length known %v): trailer %v", known, resp.Trailer)
		}
	}
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := c.Get(fmt.Sprintf("%s/%d", base, i))
			if err != nil {
				t.Error(err)
				return
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if !strings.HasPrefix(string(b), fmt.Sprintf("origin GET /%d", i)) {
				t.Errorf("stream %d: %q", i, b)
			}
		}()
	}
	wg.Wait()
}

// h2c with prior knowledge: HTTP/2 streams run the pipeline to an
// HTTP/1.1 origin, and HTTP/1.1 clients are still served on the same
// listener.
func TestH2CDownstream(t *testing.T) {
	o := h2Origin(t)
	h := startService(t, static{&Peer{Addr: o.addr}}, Config{H2C: true})
	hc := h2cClient(t, nil)
	h2Exercise(t, hc, "http://"+h.addr)
	hc.Transport.(*xh2.Transport).CloseIdleConnections()
	c := dialProxy(t, h.addr)
	c.send("GET /h1 HTTP/1.1\r\nHost: x\r\n\r\n")
	if resp, body := c.response("GET"); resp.StatusCode != 200 || !strings.HasPrefix(body, "origin GET /h1") {
		t.Fatalf("HTTP/1.1 on the h2c listener: %d %q", resp.StatusCode, body)
	}
	h.request(t) // logged, so counted
	// Connections, not streams: the h2 client's one connection (over
	// many streams) and the HTTP/1.1 one.
	if v := h.metric(t, "sluice_http_connections_total"); v != 2 {
		t.Errorf("connections counted %v, want 2 (streams are not connections)", v)
	}
}

// h2 over TLS, chosen by ALPN.
func TestH2OverTLS(t *testing.T) {
	ca, err := testcert.NewCA(t.TempDir(), "ca")
	if err != nil {
		t.Fatal(err)
	}
	pair, err := ca.Server("localhost", "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := transport.NewTLSServer(transport.ServerTLS{Certificates: []transport.CertFiles{{Cert: pair.CertFile, Key: pair.KeyFile}}, ALPN: []string{"h2", "http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	o := h2Origin(t)
	h := startService(t, static{&Peer{Addr: o.addr}}, Config{TLS: &shell.TLS{Server: srv}})
	h2Exercise(t, h2cClient(t, &tls.Config{RootCAs: ca.Pool, ServerName: "localhost"}), "https://"+h.addr)
}

// An HTTP/2 upload that stalls gets 408 once body_read passes, as over
// HTTP/1.1; the stream is not held until the connection ends.
func TestH2StalledBody408(t *testing.T) {
	o := h2Origin(t)
	h := startService(t, static{&Peer{Addr: o.addr}}, Config{H2C: true, Timeouts: Timeouts{BodyRead: 200 * time.Millisecond}})
	pr, pw := io.Pipe()
	defer pw.Close()
	go pw.Write([]byte("0123456789")) // then nothing more
	req, _ := http.NewRequest("POST", "http://"+h.addr+"/upload", pr)
	resp, err := h2cClient(t, nil).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestTimeout {
		t.Fatalf("stalled h2 upload: %d, want 408", resp.StatusCode)
	}
}

// Shutdown drains HTTP/2 connections: an idle one is told GOAWAY and
// closed at once, so Shutdown does not wait out its grace for it.
func TestH2Shutdown(t *testing.T) {
	o := h2Origin(t)
	h := startService(t, static{&Peer{Addr: o.addr}}, Config{H2C: true})
	c := h2cClient(t, nil)
	resp, err := c.Get("http://" + h.addr + "/x")
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	// The client keeps its connection open and idle; Shutdown with no
	// grace to spare must still end cleanly (nil), not by running out.
	ctx, cancel := context.WithTimeout(context.Background(), safety)
	defer cancel()
	if err := h.svc.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown with an idle h2 connection: %v", err)
	}
}
