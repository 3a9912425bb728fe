package httpproxy

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/sluice-proxy/sluice/protocols/http1"
)

// gRPC status codes the proxy answers with (google.golang.org/grpc/codes).
const (
	grpcInternal          = 13
	grpcUnavailable       = 14
	grpcDeadlineExceeded  = 4
	grpcResourceExhausted = 8
	grpcInvalidArgument   = 3
)

// isGRPC reports whether req is a gRPC call (RFC-less, by its content type:
// application/grpc, or application/grpc+proto and the like).
func isGRPC(req *http1.Request) bool {
	ct := req.Header.Get("Content-Type")
	return bytes.HasPrefix(ct, []byte("application/grpc")) &&
		(len(ct) == len("application/grpc") || ct[len("application/grpc")] == '+' || ct[len("application/grpc")] == ';')
}

// grpcCode maps a failure of the proxy's to the gRPC status a client
// understands: no upstream or one that cannot be reached is UNAVAILABLE,
// a timeout DEADLINE_EXCEEDED.
func grpcCode(err error) int {
	switch kindLabel(err) {
	case "no_peer", "connect", "upstream_tls", "upstream_closed", "local_resource":
		return grpcUnavailable
	case "connect_timeout", "upstream_timeout", "header_timeout", "downstream_timeout":
		return grpcDeadlineExceeded
	case "request_too_large":
		return grpcResourceExhausted
	case "downstream_protocol":
		return grpcInvalidArgument
	}
	return grpcInternal
}

// failGRPC answers a failed gRPC call as gRPC does: HTTP 200 whose head
// carries grpc-status and grpc-message and no body (a Trailers-Only
// response over HTTP/2), never an HTML or text page the client cannot
// read.
func (hc *h1conn) failGRPC(s *Session, err error) {
	resp := &http1.Response{Status: 200}
	resp.Header.Set("Content-Type", "application/grpc")
	resp.Header.Set("Grpc-Status", strconv.Itoa(grpcCode(err)))
	msg := failureText(err)
	if msg == "" {
		msg = "proxy error"
	}
	resp.Header.Set("Grpc-Message", grpcEscape("sluice: "+msg))
	s.WriteResponse(resp, nil)
}

// grpcEscape percent-encodes a grpc-message (gRPC over HTTP/2: bytes
// outside 0x20..0x7E, and '%', are encoded).
func grpcEscape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c > 0x7e || c == '%' {
			fmt.Fprintf(&b, "%%%02X", c)
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// grpcTimeout parses the call's grpc-timeout (1 to 8 digits and a unit:
// H, M, S, m, u, n); ok is false when there is none or it is malformed.
func grpcTimeout(req *http1.Request) (time.Duration, bool) {
	v := req.Header.Get("Grpc-Timeout")
	if len(v) < 2 || len(v) > 9 {
		return 0, false
	}
	n, err := strconv.ParseInt(string(v[:len(v)-1]), 10, 64)
	if err != nil || n < 0 {
		return 0, false
	}
	var unit time.Duration
	switch v[len(v)-1] {
	case 'H':
		unit = time.Hour
	case 'M':
		unit = time.Minute
	case 'S':
		unit = time.Second
	case 'm':
		unit = time.Millisecond
	case 'u':
		unit = time.Microsecond
	case 'n':
		unit = time.Nanosecond
	default:
		return 0, false
	}
	return max(time.Duration(n)*unit, time.Millisecond), true
}
