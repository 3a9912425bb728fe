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

func TestSplitAbsolute(t *testing.T) {
	for _, tt := range []struct{ in, auth, path string }{
		{"http://a.example/x?y", "a.example", "/x?y"},
		{"HTTPS://a.example:8443", "a.example:8443", "/"},
		{"http://a.example?q=1", "a.example", "/?q=1"},
		{"/plain", "", ""},
		{"*", "", ""},
	} {
		auth, path, ok := splitAbsolute([]byte(tt.in))
		if ok != (tt.auth != "") || string(auth) != tt.auth || string(path) != tt.path {
			t.Errorf("splitAbsolute(%q) = %q %q %v", tt.in, auth, path, ok)
		}
	}
}
func TestStripHopByHopAllocs(t *testing.T) {
	var h http1.Header
	n := testing.AllocsPerRun(100, func() {
		h.Reset()
		h.Add("Content-Length", "5")
		h.Add("Connection", "keep-alive")
		h.Add("Keep-Alive", "timeout=5")
		stripHopByHop(&h)
	})
	if n != 0 {
		t.Errorf("%v allocations per strip", n)
	}
}
