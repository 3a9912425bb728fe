package httpproxy

import (
	"strings"
	"testing"

	"github.com/sluice-proxy/sluice/protocols/http1"
)

func TestStripHopByHop(t *testing.T) {
	var h http1.Header
	for _, f := range [][2]string{
		{"Host", "x"}, {"connection", "close, X-Drop, keep-alive"}, {"Keep-Alive", "timeout=5"},
		{"te", "trailers"}, {"Transfer-Encoding", "chunked"}, {"UPGRADE", "h2c"}, {"Proxy-Connection", "keep-alive"},
		{"Proxy-Authorization", "Basic x"}, {"Proxy-Authenticate", "Basic"}, {"x-drop", "1"}, {"X-Keep", "2"},
		{"Accept", "*/*"}, {"Tee", "not hop-by-hop"},
	} {
		h.Add(f[0], f[1])
	}
	stripHopByHop(&h)
	var left []string
	for _, f := range h.Fields() {
		left = append(left, string(f.Name))
	}
	if got := strings.Join(left, ","); got != "Host,X-Keep,Accept,Tee" {
		t.Errorf("left %s", got)
	}
}
