package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestAdminEndpoints: /-/healthy answers; /-/ready answers 200 once every
// service serves, and 503 naming the service while one with active health
// checks has not had its first round (here an hour away).
func TestAdminEndpoints(t *testing.T) {
	up := echoServer(t)
	for _, tc := range []struct {
		health string
		code   int
		body   string
	}{
		{"", 200, "ready: 1 services"},
		{"    health: {interval: 1h}\n", 503, "not ready: tcp fw: first round of health checks not done"},
	} {
		path := filepath.Join(t.TempDir(), "s.yaml")
		conf := fmt.Sprintf("log: {level: error}\nmetrics: {listen: \"127.0.0.1:0\"}\ntcp:\n  - name: fw\n    listen: [\"127.0.0.1:0\"]\n    upstreams: [{addr: %q}]\n%s", up, tc.health)
		if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
			t.Fatal(err)
		}
		a := runFile(t, path)
		admin := "http://" + a.metricsL.Addr().String()
		for _, ep := range []struct {
			path string
			code int
			body string
		}{{"/-/healthy", 200, "ok"}, {"/-/ready", tc.code, tc.body}} {
			resp, err := http.Get(admin + ep.path)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != ep.code || !strings.Contains(string(b), ep.body) {
				t.Errorf("health %q: GET %s: %d %q, want %d %q", tc.health, ep.path, resp.StatusCode, b, ep.code, ep.body)
			}
		}
	}
}
