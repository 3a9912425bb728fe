package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Services whose line 5 (line 6 for vmux) is the line a test adds.
const (
	tcpHead  = "tcp:\n  - name: a\n    listen: [\"127.0.0.1:1\"]\n    upstreams: [{addr: \"127.0.0.1:2\"}]\n"
	vmuxHead = "tcp:\n  - name: a\n    protocol: vmux\n    listen: [\"127.0.0.1:1\"]\n    upstreams: [{addr: \"127.0.0.1:2\"}]\n"
	udpHead  = "udp:\n  - name: u\n    listen: [\"127.0.0.1:1\"]\n    upstreams: [{addr: \"127.0.0.1:2\"}]\n"
	httpHead = "http:\n  - name: h\n    listen: [\"127.0.0.1:1\"]\n    upstreams: [{addr: \"127.0.0.1:2\"}]\n"
)

// TestDurationFloors: a setting small enough to make sluice spin (a period
// that repeats work) or to fail every attempt (a timeout no peer can meet)
// is refused, naming file, line and key, with the floor and the value.
func TestDurationFloors(t *testing.T) {
	for _, tc := range []struct {
		name string
		yaml string
		want string // the whole error
	}{
		{"health 1ns", tcpHead + "    health: {interval: 1ns, timeout: 1ns}\n",
			"x.yaml:5: tcp[0].health.interval: must be at least 100ms, got 1ns"},
		{"health interval under the floor", tcpHead + "    health: {interval: 99ms, timeout: 10ms}\n",
			"x.yaml:5: tcp[0].health.interval: must be at least 100ms, got 99ms"},
		{"health interval 0", tcpHead + "    health: {interval: 0s}\n",
			"x.yaml:5: tcp[0].health.interval: must be at least 100ms, got 0s"},
		{"health timeout 1ns", tcpHead + "    health:\n      interval: 1s\n      timeout: 1ns\n",
			"x.yaml:7: tcp[0].health.timeout: must be at least 10ms, got 1ns"},
		{"health timeout 0", tcpHead + "    health: {timeout: 0s}\n",
			"x.yaml:5: tcp[0].health.timeout: must be at least 10ms, got 0s"},
		{"health timeout over interval", tcpHead + "    health: {interval: 1s, timeout: 2s}\n",
			"x.yaml:5: tcp[0].health.timeout: must be at most the interval (1s), got 2s"},
		{"health rise negative", tcpHead + "    health:\n      rise: -1\n",
			"x.yaml:6: tcp[0].health.rise: must be at least 1, got -1 (0 means 2)"},
		{"health fall negative", tcpHead + "    health: {fall: -3}\n",
			"x.yaml:5: tcp[0].health.fall: must be at least 1, got -3 (0 means 2)"},
		{"http health 1ns", httpHead + "    health: {interval: 1ns, timeout: 1ns}\n",
			"x.yaml:5: http[0].health.interval: must be at least 100ms, got 1ns"},
		{"http health timeout", httpHead + "    health: {interval: 2s, timeout: 5ms}\n",
			"x.yaml:5: http[0].health.timeout: must be at least 10ms, got 5ms"},
		{"http upstream_read 1ns", httpHead + "    timeouts: {upstream_read: 1ns}\n",
			"x.yaml:5: http[0].timeouts.upstream_read: must be at least 10ms, got 1ns"},
		{"http header_read 1ms", httpHead + "    timeouts: {header_read: 1ms}\n",
			"x.yaml:5: http[0].timeouts.header_read: must be at least 10ms, got 1ms"},
		{"connect 1ns", tcpHead + "    timeouts: {connect: 1ns}\n",
			"x.yaml:5: tcp[0].timeouts.connect: must be at least 10ms, got 1ns (0s means the default)"},
		{"idle 1ns", tcpHead + "    timeouts: {idle: 1ns}\n",
			"x.yaml:5: tcp[0].timeouts.idle: must be at least 100ms, got 1ns (0s turns it off)"},
		{"proxy header 1ms", tcpHead + "    proxy_protocol: {header_timeout: 1ms}\n",
			"x.yaml:5: tcp[0].proxy_protocol.header_timeout: must be at least 10ms, got 1ms (0s means the default)"},
		{"failover budget 1ns", tcpHead + "    failover: {budget: 1ns}\n",
			"x.yaml:5: tcp[0].failover.budget: must be at least 10ms, got 1ns (0s means no budget)"},
		{"vmux handshake 1ns", vmuxHead + "    vmux: {handshake_timeout: 1ns}\n",
			"x.yaml:6: tcp[0].vmux.handshake_timeout: must be at least 10ms, got 1ns (0s turns it off)"},
		{"vmux frame 1ns", vmuxHead + "    vmux: {frame_timeout: 1ns}\n",
			"x.yaml:6: tcp[0].vmux.frame_timeout: must be at least 100ms, got 1ns (0s turns it off)"},
		{"vmux idle 50ms", vmuxHead + "    vmux:\n      idle_timeout: 50ms\n",
			"x.yaml:7: tcp[0].vmux.idle_timeout: must be at least 100ms, got 50ms (0s turns it off)"},
		{"udp idle 1ns", udpHead + "    idle_timeout: 1ns\n",
			"x.yaml:5: udp[0].idle_timeout: must be at least 100ms, got 1ns"},
		{"udp idle 0", udpHead + "    idle_timeout: 0s\n",
			"x.yaml:5: udp[0].idle_timeout: must be at least 100ms, got 0s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseConfig("x.yaml", []byte(tc.yaml))
			if err == nil {
				t.Fatal("accepted")
			}
			if !errors.Is(err, ErrConfig) {
				t.Errorf("error %v does not match ErrConfig", err)
			}
			if err.Error() != tc.want {
				t.Fatalf("error %q\nwant        %q", err, tc.want)
			}
		})
	}
}

// TestDurationFloorsAccepted: the floors themselves, and 0 where it turns a
// limit off or means the default, are accepted.
func TestDurationFloorsAccepted(t *testing.T) {
	for _, y := range []string{
		tcpHead + "    health: {interval: 100ms, timeout: 10ms}\n",
		tcpHead + "    health: {interval: 100ms, timeout: 100ms, rise: 1, fall: 1}\n",
		tcpHead + "    timeouts: {connect: 10ms, idle: 100ms}\n",
		tcpHead + "    timeouts: {connect: 0s, idle: 0s}\n",
		tcpHead + "    proxy_protocol: {header_timeout: 10ms}\n",
		tcpHead + "    failover: {budget: 0s}\n",
		tcpHead + "    failover: {budget: 10ms}\n",
		vmuxHead + "    vmux: {handshake_timeout: 10ms, frame_timeout: 100ms, idle_timeout: 100ms}\n",
		vmuxHead + "    vmux: {handshake_timeout: 0s, frame_timeout: 0s, idle_timeout: 0s}\n",
		udpHead + "    idle_timeout: 100ms\n",
		httpHead + "    health: {interval: 100ms, timeout: 10ms}\n",
	} {
		if _, err := parseConfig("x.yaml", []byte(y)); err != nil {
			t.Errorf("%v\nin:\n%s", err, y)
		}
	}
}

// TestCheckRefusesSpinningHealth: `sluice check` exits 1 for
// health: {interval: 1ns, timeout: 1ns}, which `sluice run` would turn
// into a core dialling upstreams in a loop, and names the key and line.
func TestCheckRefusesSpinningHealth(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(bad, []byte(strings.Replace(goodConfig, "health: {interval: 2s, timeout: 1s, rise: 2, fall: 2}", "health: {interval: 1ns, timeout: 1ns}", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errb strings.Builder
	if code := runMain([]string{"check", "-c", bad}, &out, &errb); code != 1 {
		t.Fatalf("check: exit %d, stdout %q", code, out.String())
	}
	if want := "bad.yaml:10: tcp[0].health.interval: must be at least 100ms, got 1ns\n"; !strings.HasSuffix(errb.String(), want) {
		t.Fatalf("stderr %q, want it to end with %q", errb.String(), want)
	}
	if out.Len() != 0 {
		t.Fatalf("stdout %q, want nothing", out.String())
	}
}
