package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluice-proxy/sluice/protocols/vmux"
)

// vmuxService is a protocol: vmux service with section as its vmux: key
// (none when empty).
func vmuxService(section string) string {
	y := "tcp:\n  - name: vm\n    protocol: vmux\n    listen: [\"127.0.0.1:1\"]\n    upstreams: [{addr: \"127.0.0.1:2\"}]\n"
	if section != "" {
		y += "    vmux: " + section + "\n"
	}
	return y
}

// TestVmuxSection: the vmux: keys reach the vmux.Config of the service's
// sessions as written; a key left out keeps vmux's default and 0s turns
// its limit off.
func TestVmuxSection(t *testing.T) {
	for _, tc := range []struct {
		name    string
		section string
		limits  VmuxLimits
		cfg     vmux.Config
	}{
		{"absent", "",
			VmuxLimits{vmux.DefaultHandshakeTimeout, vmux.DefaultFrameTimeout, vmux.DefaultIdleTimeout},
			vmux.Config{HandshakeTimeout: vmux.DefaultHandshakeTimeout, FrameTimeout: vmux.DefaultFrameTimeout, IdleTimeout: vmux.DefaultIdleTimeout}},
		{"null", "null",
			VmuxLimits{vmux.DefaultHandshakeTimeout, vmux.DefaultFrameTimeout, vmux.DefaultIdleTimeout},
			vmux.Config{HandshakeTimeout: vmux.DefaultHandshakeTimeout, FrameTimeout: vmux.DefaultFrameTimeout, IdleTimeout: vmux.DefaultIdleTimeout}},
		{"all set", "{handshake_timeout: 3s, frame_timeout: 1m, idle_timeout: 1h30m}",
			VmuxLimits{3 * time.Second, time.Minute, 90 * time.Minute},
			vmux.Config{HandshakeTimeout: 3 * time.Second, FrameTimeout: time.Minute, IdleTimeout: 90 * time.Minute}},
		{"one set", "{idle_timeout: 2m}",
			VmuxLimits{vmux.DefaultHandshakeTimeout, vmux.DefaultFrameTimeout, 2 * time.Minute},
			vmux.Config{HandshakeTimeout: vmux.DefaultHandshakeTimeout, FrameTimeout: vmux.DefaultFrameTimeout, IdleTimeout: 2 * time.Minute}},
		{"all off", "{handshake_timeout: 0s, frame_timeout: 0, idle_timeout: 0s}",
			VmuxLimits{0, 0, 0},
			vmux.Config{HandshakeTimeout: -1, FrameTimeout: -1, IdleTimeout: -1}},
		{"idle off", "{handshake_timeout: 200ms, idle_timeout: 0s}",
			VmuxLimits{200 * time.Millisecond, vmux.DefaultFrameTimeout, 0},
			vmux.Config{HandshakeTimeout: 200 * time.Millisecond, FrameTimeout: vmux.DefaultFrameTimeout, IdleTimeout: -1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := parseConfig("x.yaml", []byte(vmuxService(tc.section)))
			if err != nil {
				t.Fatal(err)
			}
			got := cfg.TCP[0].Vmux
			if got != tc.limits {
				t.Errorf("limits %+v, want %+v", got, tc.limits)
			}
			vc := vmuxConfig(got)
			if vc.HandshakeTimeout != tc.cfg.HandshakeTimeout || vc.FrameTimeout != tc.cfg.FrameTimeout || vc.IdleTimeout != tc.cfg.IdleTimeout {
				t.Errorf("vmux.Config{HandshakeTimeout: %v, FrameTimeout: %v, IdleTimeout: %v}, want {%v, %v, %v}",
					vc.HandshakeTimeout, vc.FrameTimeout, vc.IdleTimeout, tc.cfg.HandshakeTimeout, tc.cfg.FrameTimeout, tc.cfg.IdleTimeout)
			}
		})
	}
}

// TestVmuxConfigMapping: vmuxConfig turns sluice's 0 (off) into vmux's
// negative (off), never into vmux's 0 (the default), and passes every
// positive limit through.
func TestVmuxConfigMapping(t *testing.T) {
	for _, tc := range []struct {
		in   time.Duration
		want time.Duration
	}{
		{0, -1},
		{time.Nanosecond, time.Nanosecond},
		{200 * time.Millisecond, 200 * time.Millisecond},
		{vmux.DefaultIdleTimeout, vmux.DefaultIdleTimeout},
		{24 * time.Hour, 24 * time.Hour},
	} {
		t.Run(tc.in.String(), func(t *testing.T) {
			for _, f := range []struct {
				name string
				in   VmuxLimits
				got  func(vmux.Config) time.Duration
			}{
				{"HandshakeTimeout", VmuxLimits{HandshakeTimeout: tc.in, FrameTimeout: time.Second, IdleTimeout: time.Second}, func(c vmux.Config) time.Duration { return c.HandshakeTimeout }},
				{"FrameTimeout", VmuxLimits{HandshakeTimeout: time.Second, FrameTimeout: tc.in, IdleTimeout: time.Second}, func(c vmux.Config) time.Duration { return c.FrameTimeout }},
				{"IdleTimeout", VmuxLimits{HandshakeTimeout: time.Second, FrameTimeout: time.Second, IdleTimeout: tc.in}, func(c vmux.Config) time.Duration { return c.IdleTimeout }},
			} {
				c := vmuxConfig(f.in)
				if got := f.got(c); got != tc.want {
					t.Errorf("%s %v maps to %v, want %v", f.name, tc.in, got, tc.want)
				}
				if c.OnClose != nil || c.Window != 0 || c.MaxFrameSize != 0 || c.MaxStreams != 0 || c.WriteTimeout != 0 {
					t.Errorf("%s: vmuxConfig sets more than the three limits: %+v", f.name, c)
				}
			}
		})
	}
}

// TestCheckVmuxSection: `sluice check` accepts a vmux: section on a vmux
// service and refuses one on a tcp service, naming the key and line.
func TestCheckVmuxSection(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	bad := filepath.Join(dir, "bad.yaml")
	section := "{handshake_timeout: 10s, frame_timeout: 30s, idle_timeout: 0s}"
	if err := os.WriteFile(good, []byte(vmuxService(section)), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, []byte(strings.Replace(vmuxService(section), "protocol: vmux", "protocol: tcp", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errb strings.Builder
	if code := runMain([]string{"check", "-c", good}, &out, &errb); code != 0 {
		t.Fatalf("check good: exit %d: %s", code, errb.String())
	}
	if code := runMain([]string{"check", "-c", bad}, &out, &errb); code != 1 {
		t.Fatalf("check bad: exit %d", code)
	}
	if want := "bad.yaml:6: tcp[0].vmux: only allowed with protocol: vmux"; !strings.Contains(errb.String(), want) {
		t.Fatalf("stderr %q, want %q", errb.String(), want)
	}
}
