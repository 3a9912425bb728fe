package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const goodConfig = `metrics: {listen: "127.0.0.1:9090"}        # serves /metrics
tcp:
  - name: echo
    listen: ["127.0.0.1:6005"]
    upstreams: [{addr: "127.0.0.1:7000", weight: 1}]
    balance: round_robin                    # round_robin | random | least_conn | hash
    proxy_protocol: {accept: false, trusted: ["127.0.0.1/32"], send: v2}   # send: "" | v1 | v2
    filter: {allow: ["127.0.0.0/8"], deny: [], max_conns_per_ip: 1000, accept_rate_per_ip: 0}
    timeouts: {connect: 5s, idle: 5m}
    health: {interval: 2s, timeout: 1s, rise: 2, fall: 2}
`

// TestIssueExampleParses: the config the issue gives, verbatim.
func TestIssueExampleParses(t *testing.T) {
	cfg, err := parseConfig("x.yaml", []byte(goodConfig))
	if err != nil {
		t.Fatal(err)
	}
	tc := cfg.TCP[0]
	if tc.Name != "echo" || tc.ProxySend != 2 || tc.ConnectTimeout != 5*time.Second || tc.IdleTimeout != 5*time.Minute ||
		tc.Health == nil || tc.Health.Rise != 2 || tc.MaxConnsPerIP != 1000 || len(tc.Allow) != 1 || tc.Upstreams[0].Weight != 1 {
		t.Fatalf("parsed %+v", tc)
	}
	if cfg.Metrics.Listen != "127.0.0.1:9090" || cfg.Metrics.Path != "/metrics" {
		t.Fatalf("metrics %+v", cfg.Metrics)
	}
}

func TestEmbeddedDemoParses(t *testing.T) {
	if _, err := parseConfig("demo.yaml", demoYAML); err != nil {
		t.Fatal(err)
	}
}

// TestConfigErrors: each fault names its file, line and key.
func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		yaml string
		want string // substring: "file:line: key: ..."
	}{
		{"unknown top-level key", "tcpp: []\n", "x.yaml:1: tcpp: unknown key"},
		{"unknown nested key", "tcp:\n  - name: a\n    listen: [\"127.0.0.1:1\"]\n    upstreams: [{addr: \"127.0.0.1:2\"}]\n    timeouts: {conect: 5s}\n", "x.yaml:5: tcp[0].timeouts.conect: unknown key"},
		{"bad duration", "tcp:\n  - name: a\n    listen: [\"127.0.0.1:1\"]\n    upstreams: [{addr: \"127.0.0.1:2\"}]\n    timeouts:\n      idle: 5 minutes\n", "x.yaml:6: tcp[0].timeouts.idle: invalid duration"},
		{"bad balance", "tcp:\n  - name: a\n    listen: [\"127.0.0.1:1\"]\n    upstreams: [{addr: \"127.0.0.1:2\"}]\n    balance: fastest\n", "x.yaml:5: tcp[0].balance: unknown policy"},
		{"bad cidr", "tcp:\n  - name: a\n    listen: [\"127.0.0.1:1\"]\n    upstreams: [{addr: \"127.0.0.1:2\"}]\n    filter:\n      allow: [\"10.0.0.0/8\", \"10.0.0.300\"]\n", "x.yaml:6: tcp[0].filter.allow[1]: invalid CIDR"},
		{"bad listen", "tcp:\n  - name: a\n    listen: [\"127.0.0.1\"]\n    upstreams: [{addr: \"127.0.0.1:2\"}]\n", "x.yaml:3: tcp[0].listen[0]: invalid address"},
		{"upstream port 0", "tcp:\n  - name: a\n    listen: [\"127.0.0.1:1\"]\n    upstreams:\n      - addr: \"127.0.0.1:0\"\n", "x.yaml:5: tcp[0].upstreams[0].addr: invalid port"},
		{"no upstreams", "tcp:\n  - name: a\n    listen: [\"127.0.0.1:1\"]\n", "x.yaml:2: tcp[0].upstreams: at least one"},
		{"bad weight", "tcp:\n  - name: a\n    listen: [\"127.0.0.1:1\"]\n    upstreams: [{addr: \"127.0.0.1:2\", weight: 0}]\n", "x.yaml:4: tcp[0].upstreams[0].weight: must be between"},
		{"bad proxy send", "tcp:\n  - name: a\n    listen: [\"127.0.0.1:1\"]\n    upstreams: [{addr: \"127.0.0.1:2\"}]\n    proxy_protocol: {send: v3}\n", "x.yaml:5: tcp[0].proxy_protocol.send: unknown version"},
		{"accept without trusted", "tcp:\n  - name: a\n    listen: [\"127.0.0.1:1\"]\n    upstreams: [{addr: \"127.0.0.1:2\"}]\n    proxy_protocol: {accept: true}\n", "x.yaml:5: tcp[0].proxy_protocol.trusted: accept: true needs"},
		{"unknown protocol", "tcp:\n  - name: a\n    protocol: quic\n    listen: [\"127.0.0.1:1\"]\n    upstreams: [{addr: \"127.0.0.1:2\"}]\n", "x.yaml:3: tcp[0].protocol: unknown protocol \"quic\""},
		{"proxy accept on vmux", "tcp:\n  - name: a\n    protocol: vmux\n    listen: [\"127.0.0.1:1\"]\n    upstreams: [{addr: \"127.0.0.1:2\"}]\n    proxy_protocol:\n      trusted: [\"127.0.0.1/32\"]\n      accept: true\n", "x.yaml:8: tcp[0].proxy_protocol.accept: PROXY headers are not taken on vmux listeners"},
		{"negative limit", "tcp:\n  - name: a\n    listen: [\"127.0.0.1:1\"]\n    upstreams: [{addr: \"127.0.0.1:2\"}]\n    filter: {max_conns_per_ip: -1}\n", "x.yaml:5: tcp[0].filter.max_conns_per_ip: must not be negative"},
		{"type error", "tcp:\n  - name: a\n    listen: [\"127.0.0.1:1\"]\n    upstreams: [{addr: \"127.0.0.1:2\"}]\n    filter: {max_conns: lots}\n", "x.yaml:5: cannot unmarshal"},
		{"duplicate name", "tcp:\n  - name: a\n    listen: [\"127.0.0.1:1\"]\n    upstreams: [{addr: \"127.0.0.1:2\"}]\n  - name: a\n    listen: [\"127.0.0.1:3\"]\n    upstreams: [{addr: \"127.0.0.1:2\"}]\n", "x.yaml:5: tcp[1].name: duplicate"},
		{"health timeout over interval", "tcp:\n  - name: a\n    listen: [\"127.0.0.1:1\"]\n    upstreams: [{addr: \"127.0.0.1:2\"}]\n    health: {interval: 1s, timeout: 2s}\n", "x.yaml:5: tcp[0].health.timeout"},
		{"missing allow file", "tcp:\n  - name: a\n    listen: [\"127.0.0.1:1\"]\n    upstreams: [{addr: \"127.0.0.1:2\"}]\n    filter: {allow_file: /nonexistent/allow.txt}\n", "x.yaml:5: tcp[0].filter.allow_file"},
		{"no services", "metrics: {listen: \"127.0.0.1:0\"}\n", "x.yaml:1: tcp: no services"},
		{"bad yaml", "tcp: [\n", "x.yaml"},
		{"udp proxy v1", "udp:\n  - name: u\n    listen: [\"127.0.0.1:1\"]\n    upstreams: [{addr: \"127.0.0.1:2\"}]\n    proxy_protocol: {send: v1}\n", "x.yaml:5: udp[0].proxy_protocol.send: PROXY v1 cannot describe UDP"},
		{"udp unix upstream", "udp:\n  - name: u\n    listen: [\"127.0.0.1:1\"]\n    upstreams: [{addr: \"unix:/tmp/x\"}]\n", "x.yaml:4: udp[0].upstreams[0].addr: unix sockets are not supported"},
		{"udp bad idle", "udp:\n  - name: u\n    listen: [\"127.0.0.1:1\"]\n    upstreams: [{addr: \"127.0.0.1:2\"}]\n    idle_timeout: forever\n", "x.yaml:5: udp[0].idle_timeout: invalid duration"},
		{"vmux section without protocol vmux", "tcp:\n  - name: a\n    listen: [\"127.0.0.1:1\"]\n    upstreams: [{addr: \"127.0.0.1:2\"}]\n    vmux: {idle_timeout: 5m}\n", "x.yaml:5: tcp[0].vmux: only allowed with protocol: vmux"},
		{"vmux section on protocol tcp", "tcp:\n  - name: a\n    protocol: tcp\n    listen: [\"127.0.0.1:1\"]\n    upstreams: [{addr: \"127.0.0.1:2\"}]\n    vmux:\n", "x.yaml:6: tcp[0].vmux: only allowed with protocol: vmux"},
		{"vmux negative limit", "tcp:\n  - name: a\n    protocol: vmux\n    listen: [\"127.0.0.1:1\"]\n    upstreams: [{addr: \"127.0.0.1:2\"}]\n    vmux:\n      handshake_timeout: 10s\n      frame_timeout: -30s\n", "x.yaml:8: tcp[0].vmux.frame_timeout: must not be negative"},
		{"vmux bad duration", "tcp:\n  - name: a\n    protocol: vmux\n    listen: [\"127.0.0.1:1\"]\n    upstreams: [{addr: \"127.0.0.1:2\"}]\n    vmux: {idle_timeout: never}\n", "x.yaml:6: tcp[0].vmux.idle_timeout: invalid duration \"never\""},
		{"vmux unknown key", "tcp:\n  - name: a\n    protocol: vmux\n    listen: [\"127.0.0.1:1\"]\n    upstreams: [{addr: \"127.0.0.1:2\"}]\n    vmux:\n      idle: 5m\n", "x.yaml:7: tcp[0].vmux.idle: unknown key"},
		{"udp unknown key", "udp:\n  - name: u\n    listen: [\"127.0.0.1:1\"]\n    upstreams: [{addr: \"127.0.0.1:2\"}]\n    max_session: 5\n", "x.yaml:5: udp[0].max_session: unknown key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseConfig("x.yaml", []byte(tc.yaml))
			if err == nil {
				t.Fatal("accepted")
			}
			if !errors.Is(err, ErrConfig) {
				t.Errorf("error %v does not match ErrConfig", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q\nwant it to contain %q", err, tc.want)
			}
		})
	}
}

// TestCheckCommand: `sluice check` exits 0 on a good file and 1 with the
// key and line on a bad one; nothing is started either way.
func TestCheckCommand(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(good, []byte(goodConfig), 0o600)
	os.WriteFile(bad, []byte(strings.Replace(goodConfig, "connect: 5s", "connect: soon", 1)), 0o600)
	var out, errb strings.Builder
	if code := runMain([]string{"check", "-c", good}, &out, &errb); code != 0 {
		t.Fatalf("check good: exit %d: %s", code, errb.String())
	}
	out.Reset()
	errb.Reset()
	if code := runMain([]string{"check", "-c", bad}, &out, &errb); code != 1 {
		t.Fatalf("check bad: exit %d", code)
	}
	if want := "bad.yaml:9: tcp[0].timeouts.connect: invalid duration \"soon\""; !strings.Contains(errb.String(), want) {
		t.Fatalf("stderr %q, want %q", errb.String(), want)
	}
	errb.Reset()
	if code := runMain([]string{"run", "-c", bad}, &out, &errb); code != 1 {
		t.Fatalf("run bad: exit %d", code)
	}
	if code := runMain([]string{"bogus"}, &out, &errb); code != 2 {
		t.Fatalf("unknown command: exit %d", code)
	}
}
