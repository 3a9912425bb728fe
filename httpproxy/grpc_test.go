package httpproxy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/sluice-proxy/sluice/protocols/http1"
)

// rawCodec carries gRPC messages as bytes, so the tests need no protobuf.
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) { return *v.(*[]byte), nil }
func (rawCodec) Unmarshal(data []byte, v any) error {
	*v.(*[]byte) = append([]byte(nil), data...)
	return nil
}
func (rawCodec) Name() string { return "raw" }

// echoService is a gRPC service of the four kinds of call. ServerStream
// sends its messages one at a time, each only after the client has
// acknowledged the one before (through acks), so a proxy that held
// messages back would hang it.
func echoService(acks chan struct{}) *grpc.ServiceDesc {
	return &grpc.ServiceDesc{
		ServiceName: "test.Echo",
		HandlerType: (*any)(nil),
		Methods: []grpc.MethodDesc{{
			MethodName: "Unary",
			Handler: func(_ any, ctx context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
				var in []byte
				if err := dec(&in); err != nil {
					return nil, err
				}
				if string(in) == "missing" {
					return nil, status.Error(codes.NotFound, "no such thing: missing")
				}
				out := append([]byte("echo:"), in...)
				return &out, nil
			},
		}},
		Streams: []grpc.StreamDesc{
			{StreamName: "ServerStream", ServerStreams: true, Handler: func(_ any, st grpc.ServerStream) error {
				var in []byte
				if err := st.RecvMsg(&in); err != nil {
					return err
				}
				for i := range 3 {
					out := fmt.Appendf(nil, "%s-%d", in, i)
					if err := st.SendMsg(&out); err != nil {
						return err
					}
					select {
					case <-acks:
					case <-st.Context().Done():
						return st.Context().Err()
					}
				}
				return nil
			}},
			{StreamName: "ClientStream", ClientStreams: true, Handler: func(_ any, st grpc.ServerStream) error {
				n := 0
				for {
					var in []byte
					err := st.RecvMsg(&in)
					if errors.Is(err, io.EOF) {
						out := fmt.Appendf(nil, "got %d", n)
						return st.SendMsg(&out)
					}
					if err != nil {
						return err
					}
					n++
				}
			}},
			{StreamName: "Bidi", ServerStreams: true, ClientStreams: true, Handler: func(_ any, st grpc.ServerStream) error {
				for {
					var in []byte
					err := st.RecvMsg(&in)
					if errors.Is(err, io.EOF) {
						return nil
					}
					if err != nil {
						return err
					}
					out := append([]byte("re:"), in...)
					if err := st.SendMsg(&out); err != nil {
						return err
					}
				}
			}},
		},
	}
}

// grpcOrigin serves echoService over h2c on 127.0.0.1:0.
func grpcOrigin(t *testing.T, acks chan struct{}) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(grpc.ForceServerCodec(rawCodec{}))
	srv.RegisterService(echoService(acks), struct{}{})
	go srv.Serve(ln)
	t.Cleanup(srv.Stop)
	return ln.Addr().String()
}

// grpcClient dials addr over h2c.
func grpcClient(t *testing.T, addr string) *grpc.ClientConn {
	t.Helper()
	cc, err := grpc.NewClient("passthrough:///"+addr,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.ForceCodec(rawCodec{})))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return cc
}

// gRPC end to end through sluice (h2c downstream, h2c upstream) with a
// real gRPC client and server: unary calls with their status, and the
// three kinds of stream, whose messages flow one at a time.
func TestGRPCEndToEnd(t *testing.T) {
	acks := make(chan struct{})
	o := grpcOrigin(t, acks)
	h := startService(t, static{&Peer{Addr: o, Protocol: H2C}}, Config{H2C: true})
	cc := grpcClient(t, h.addr)
	ctx, cancel := context.WithTimeout(context.Background(), safety)
	defer cancel()
	desc := echoService(nil)

	in, out := []byte("hi"), []byte(nil)
	if err := cc.Invoke(ctx, "/test.Echo/Unary", &in, &out); err != nil || string(out) != "echo:hi" {
		t.Fatalf("unary: %q, %v", out, err)
	}
	missing := []byte("missing")
	err := cc.Invoke(ctx, "/test.Echo/Unary", &missing, &out)
	if st, _ := status.FromError(err); st.Code() != codes.NotFound || st.Message() != "no such thing: missing" {
		t.Fatalf("unary error: %v, want NotFound with its message (from the trailers)", err)
	}

	// Server streaming: each message arrives before the server sends the
	// next.
	ss, err := cc.NewStream(ctx, &desc.Streams[0], "/test.Echo/ServerStream")
	if err != nil {
		t.Fatal(err)
	}
	req := []byte("m")
	if err := ss.SendMsg(&req); err != nil {
		t.Fatal(err)
	}
	ss.CloseSend()
	for i := range 3 {
		var got []byte
		if err := ss.RecvMsg(&got); err != nil || string(got) != fmt.Sprintf("m-%d", i) {
			t.Fatalf("server stream message %d: %q, %v", i, got, err)
		}
		select {
		case acks <- struct{}{}:
		case <-ctx.Done():
			t.Fatalf("the server never waited for the acknowledgement of message %d", i)
		}
	}
	if err := ss.RecvMsg(&out); !errors.Is(err, io.EOF) {
		t.Fatalf("server stream end: %v, want EOF (status OK in the trailers)", err)
	}

	// Client streaming.
	cs, err := cc.NewStream(ctx, &desc.Streams[1], "/test.Echo/ClientStream")
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		if err := cs.SendMsg(&req); err != nil {
			t.Fatal(err)
		}
	}
	cs.CloseSend()
	if err := cs.RecvMsg(&out); err != nil || string(out) != "got 5" {
		t.Fatalf("client stream: %q, %v", out, err)
	}

	// Bidirectional, ping-pong: each answer comes back before the next
	// message is sent.
	bs, err := cc.NewStream(ctx, &desc.Streams[2], "/test.Echo/Bidi")
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		msg := fmt.Appendf(nil, "p%d", i)
		if err := bs.SendMsg(&msg); err != nil {
			t.Fatal(err)
		}
		var got []byte
		if err := bs.RecvMsg(&got); err != nil || string(got) != "re:"+string(msg) {
			t.Fatalf("bidi %d: %q, %v", i, got, err)
		}
	}
	bs.CloseSend()
	if err := bs.RecvMsg(&out); !errors.Is(err, io.EOF) {
		t.Fatalf("bidi end: %v", err)
	}
}

// Failures of the proxy's own are gRPC-shaped for gRPC calls: an upstream
// that refuses the connection is UNAVAILABLE, and an upstream that does
// not answer within the call's grpc-timeout is DEADLINE_EXCEEDED, each as
// HTTP 200 with grpc-status and grpc-message, never an error page.
func TestGRPCErrorsAreGRPCShaped(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := ln.Addr().String()
	ln.Close()
	h := startService(t, static{&Peer{Addr: refused, Protocol: H2C}}, Config{H2C: true, MaxRetries: -1})
	ctx, cancel := context.WithTimeout(context.Background(), safety)
	defer cancel()
	in, out := []byte("hi"), []byte(nil)
	err = grpcClient(t, h.addr).Invoke(ctx, "/test.Echo/Unary", &in, &out)
	if st, _ := status.FromError(err); st.Code() != codes.Unavailable || !strings.HasPrefix(st.Message(), "sluice: ") {
		t.Fatalf("refused upstream: %v, want UNAVAILABLE from sluice", err)
	}

	// An upstream that ignores grpc-timeout and never answers.
	hang := newH2COrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }))
	h2 := startService(t, static{&Peer{Addr: hang.addr, Protocol: H2C}}, Config{H2C: true})
	req, _ := http.NewRequest("POST", "http://"+h2.addr+"/test.Echo/Unary", bytes.NewReader([]byte{0, 0, 0, 0, 2, 'h', 'i'}))
	req.Header.Set("Content-Type", "application/grpc")
	req.Header.Set("Te", "trailers")
	req.Header.Set("Grpc-Timeout", "200m")
	resp, err := h2cClient(t, nil).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Grpc-Status") != "4" || !strings.HasPrefix(resp.Header.Get("Grpc-Message"), "sluice: ") {
		t.Fatalf("upstream past grpc-timeout: %d %v, want 200 with grpc-status 4", resp.StatusCode, resp.Header)
	}
	if m := h2.request(t); m["kind"] != "upstream_timeout" {
		t.Fatalf("logged kind %q, want upstream_timeout", m["kind"])
	}
}

func TestGRPCTimeoutParse(t *testing.T) {
	for v, want := range map[string]time.Duration{
		"200m": 200 * time.Millisecond, "1S": time.Second, "2H": 2 * time.Hour, "99999999u": 99999999 * time.Microsecond,
		"5n": time.Millisecond, // rounded up: a bound of nothing would be none
		"1x": -1, "123456789S": -1, "m": -1, "-1S": -1, "": -1,
	} {
		var req http1.Request
		if v != "" {
			req.Header.Set("Grpc-Timeout", v)
		}
		got, ok := grpcTimeout(&req)
		if (want < 0) == ok || (ok && got != want) {
			t.Errorf("grpc-timeout %q: %v %v, want %v", v, got, ok, want)
		}
	}
}
