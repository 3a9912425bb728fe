package main

import (
	"fmt"
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
// sessions as written; a key left out keeps vmux's default and 0s turns a
// time limit off.
func TestVmuxSection(t *testing.T) {
	// def is VmuxLimits with vmux's defaults, changed by set.
	def := func(set func(*VmuxLimits)) VmuxLimits {
		l := VmuxLimits{vmux.DefaultHandshakeTimeout, vmux.DefaultFrameTimeout, vmux.DefaultIdleTimeout, vmux.DefaultMaxStreams, vmux.DefaultWindow}
		if set != nil {
			set(&l)
		}
		return l
	}
	// cfg is the vmux.Config the defaults map to, changed by set.
	cfg := func(set func(*vmux.Config)) vmux.Config {
		c := vmux.Config{HandshakeTimeout: vmux.DefaultHandshakeTimeout, FrameTimeout: vmux.DefaultFrameTimeout, IdleTimeout: vmux.DefaultIdleTimeout,
			MaxStreams: vmux.DefaultMaxStreams, Window: vmux.DefaultWindow}
		if set != nil {
			set(&c)
		}
		return c
	}
	for _, tc := range []struct {
		name    string
		section string
		limits  VmuxLimits
		cfg     vmux.Config
	}{
		{"absent", "", def(nil), cfg(nil)},
		{"null", "null", def(nil), cfg(nil)},
		{"all set", "{handshake_timeout: 3s, frame_timeout: 1m, idle_timeout: 1h30m, max_streams: 32, stream_window: 256KiB}",
			VmuxLimits{3 * time.Second, time.Minute, 90 * time.Minute, 32, 256 << 10},
			vmux.Config{HandshakeTimeout: 3 * time.Second, FrameTimeout: time.Minute, IdleTimeout: 90 * time.Minute, MaxStreams: 32, Window: 256 << 10}},
		{"one set", "{idle_timeout: 2m}",
			def(func(l *VmuxLimits) { l.IdleTimeout = 2 * time.Minute }),
			cfg(func(c *vmux.Config) { c.IdleTimeout = 2 * time.Minute })},
		{"all off", "{handshake_timeout: 0s, frame_timeout: 0, idle_timeout: 0s}",
			def(func(l *VmuxLimits) { l.HandshakeTimeout, l.FrameTimeout, l.IdleTimeout = 0, 0, 0 }),
			cfg(func(c *vmux.Config) { c.HandshakeTimeout, c.FrameTimeout, c.IdleTimeout = -1, -1, -1 })},
		{"idle off", "{handshake_timeout: 200ms, idle_timeout: 0s}",
			def(func(l *VmuxLimits) { l.HandshakeTimeout, l.IdleTimeout = 200*time.Millisecond, 0 }),
			cfg(func(c *vmux.Config) { c.HandshakeTimeout, c.IdleTimeout = 200*time.Millisecond, -1 })},
		{"window in bytes", "{stream_window: 16384}",
			def(func(l *VmuxLimits) { l.StreamWindow = 16 << 10 }),
			cfg(func(c *vmux.Config) { c.Window = 16 << 10 })},
		{"window with a space and lower case", "{stream_window: 1 mib, max_streams: 8}",
			def(func(l *VmuxLimits) { l.StreamWindow, l.MaxStreams = 1<<20, 8 }),
			cfg(func(c *vmux.Config) { c.Window, c.MaxStreams = 1<<20, 8 })},
		{"smallest", "{stream_window: 1KiB, max_streams: 1}",
			def(func(l *VmuxLimits) { l.StreamWindow, l.MaxStreams = 1<<10, 1 }),
			cfg(func(c *vmux.Config) { c.Window, c.MaxStreams = 1<<10, 1 })},
		{"largest product", "{stream_window: 1MiB, max_streams: 1024}",
			def(func(l *VmuxLimits) { l.StreamWindow, l.MaxStreams = 1<<20, 1024 }),
			cfg(func(c *vmux.Config) { c.Window, c.MaxStreams = 1<<20, 1024 })},
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
			if vc.OnClose != nil {
				t.Error("vmuxConfig sets OnClose")
			}
			// Config holds a func, so it is compared without it.
			if fmt.Sprintf("%+v", vc) != fmt.Sprintf("%+v", tc.cfg) {
				t.Errorf("vmux.Config %+v, want %+v", vc, tc.cfg)
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

// TestVmuxMemoryKeyErrors: max_streams and stream_window refuse values
// that admit nothing, that vmux cannot announce, or whose product lets one
// connection make sluice buffer more than 1 GiB, naming key and line.
func TestVmuxMemoryKeyErrors(t *testing.T) {
	for _, tc := range []struct {
		section string // line 6
		want    string // the whole error
	}{
		{"{max_streams: 0}", "x.yaml:6: tcp[0].vmux.max_streams: must be at least 1, got 0 (a peer could open no stream)"},
		{"{max_streams: -5}", "x.yaml:6: tcp[0].vmux.max_streams: must be at least 1, got -5 (a peer could open no stream)"},
		{"{stream_window: 0}", "x.yaml:6: tcp[0].vmux.stream_window: must be between 1KiB and 2147483647 bytes, got 0"},
		{"{stream_window: 1023}", "x.yaml:6: tcp[0].vmux.stream_window: must be between 1KiB and 2147483647 bytes, got 1023"},
		{"{stream_window: 2GiB}", "x.yaml:6: tcp[0].vmux.stream_window: must be between 1KiB and 2147483647 bytes, got 2GiB"},
		{"{stream_window: -64KiB}", `x.yaml:6: tcp[0].vmux.stream_window: invalid size "-64KiB" (want bytes, or e.g. 64KiB, 1MiB)`},
		{"{stream_window: 64KB}", `x.yaml:6: tcp[0].vmux.stream_window: invalid size "64KB" (want bytes, or e.g. 64KiB, 1MiB)`},
		{"{stream_window: lots}", `x.yaml:6: tcp[0].vmux.stream_window: invalid size "lots" (want bytes, or e.g. 64KiB, 1MiB)`},
		{"{stream_window: 1.5MiB}", `x.yaml:6: tcp[0].vmux.stream_window: invalid size "1.5MiB" (want bytes, or e.g. 64KiB, 1MiB)`},
		{"{stream_window: 99999999999999999999}", `x.yaml:6: tcp[0].vmux.stream_window: invalid size "99999999999999999999" (want bytes, or e.g. 64KiB, 1MiB)`},
		{"{max_streams: 1024, stream_window: 2MiB}",
			"x.yaml:6: tcp[0].vmux.stream_window: max_streams × stream_window lets one connection make sluice buffer 2GiB (1024 × 2MiB); at most 1GiB"},
		{"{max_streams: 100000}",
			"x.yaml:6: tcp[0].vmux.max_streams: max_streams × stream_window lets one connection make sluice buffer 6250MiB (100000 × 64KiB); at most 1GiB"},
	} {
		t.Run(tc.section, func(t *testing.T) {
			_, err := parseConfig("x.yaml", []byte(vmuxService(tc.section)))
			if err == nil {
				t.Fatal("accepted")
			}
			if err.Error() != tc.want {
				t.Fatalf("error %q\nwant        %q", err, tc.want)
			}
		})
	}
	// A key of the wrong type is the decoder's fault, still with its line.
	if _, err := parseConfig("x.yaml", []byte(vmuxService("{max_streams: many}"))); err == nil || !strings.HasPrefix(err.Error(), "x.yaml:6: ") {
		t.Fatalf("max_streams: many: %v", err)
	}
}
