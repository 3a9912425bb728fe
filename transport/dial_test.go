package transport

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// sourceSeen dials ln with d and returns the client address the server saw.
func sourceSeen(t *testing.T, ln net.Listener, d *Dialer) netip.AddrPort {
	t.Helper()
	type res struct {
		c   net.Conn
		err error
	}
	ch := make(chan res, 1)
	go func() {
		c, err := ln.Accept()
		ch <- res{c, err}
	}()
	c, err := d.DialContext(context.Background(), "tcp", ln.Addr().String())
	if err != nil {
		ln.Close() // free the accepting goroutine
		<-ch
		t.Fatal(err)
	}
	defer c.Close()
	r := <-ch
	if r.err != nil {
		t.Fatal(r.err)
	}
	defer r.c.Close()
	return r.c.RemoteAddr().(*net.TCPAddr).AddrPort()
}

func TestDialerSource(t *testing.T) {
	ln := listen(t, &ListenConfig{Network: "tcp", Address: "127.0.0.1:0"})
	got := sourceSeen(t, ln, &Dialer{Source: "127.0.0.2"})
	if got.Addr() != netip.MustParseAddr("127.0.0.2") {
		t.Fatalf("server saw %v, want 127.0.0.2", got)
	}
	// A fixed port: the listener's own port number is free on 127.0.0.2,
	// since the listener is bound to 127.0.0.1 only.
	port := ln.Addr().(*net.TCPAddr).Port
	src := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.2"), uint16(port))
	if got := sourceSeen(t, ln, &Dialer{Source: src.String()}); got != src {
		t.Fatalf("server saw %v, want %v", got, src)
	}
}

func TestDialerBadConfig(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name, network string
		d             Dialer
		want          string
	}{
		{"bad source", "tcp", Dialer{Source: "localhost"}, "source"},
		{"unknown network", "udp", Dialer{}, "unsupported network"},
		{"negative buffer", "tcp", Dialer{SendBuffer: -5}, "negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := tc.d.DialContext(ctx, tc.network, "127.0.0.1:1")
			if err == nil {
				c.Close()
				t.Fatal("dial succeeded")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tc.want)
			}
		})
	}
}

func TestDialerCancelled(t *testing.T) {
	ln := listen(t, &ListenConfig{Network: "tcp", Address: "127.0.0.1:0"})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var d Dialer
	c, err := d.DialContext(ctx, "tcp", ln.Addr().String())
	if err == nil {
		c.Close()
		t.Fatal("dial with a cancelled context succeeded")
	}
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want one wrapping context.Canceled", err)
	}
}

func TestDialerRefused(t *testing.T) {
	ln := listen(t, &ListenConfig{Network: "tcp", Address: "127.0.0.1:0"})
	addr := ln.Addr().String()
	ln.Close()
	var d Dialer
	if c, err := d.DialContext(context.Background(), "tcp", addr); err == nil {
		c.Close()
		t.Fatal("dial to a closed port succeeded")
	}
}

func TestDialerUnix(t *testing.T) {
	dir := t.TempDir()
	ln := listen(t, &ListenConfig{Network: "unix", Address: filepath.Join(dir, "srv.sock")})
	done := make(chan string, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			done <- err.Error()
			return
		}
		defer c.Close()
		done <- c.RemoteAddr().String()
	}()
	src := filepath.Join(dir, "cli.sock")
	d := Dialer{Source: src}
	c, err := d.DialContext(context.Background(), "unix", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got := <-done; got != src {
		t.Fatalf("server saw %q, want %q", got, src)
	}
}

// A Dialer with every TCP option set (as a service's dialer is) dials a
// Unix upstream: the TCP options are ignored there, and so is an IP
// source. Dial takes the "unix:/path" form.
func TestDialerUnixIgnoresTCPOptions(t *testing.T) {
	ln := listen(t, &ListenConfig{Network: "unix", Address: filepath.Join(t.TempDir(), "srv.sock")})
	go func() {
		if c, err := ln.Accept(); err == nil {
			c.Close()
		}
	}()
	d := Dialer{DisableNoDelay: true, KeepAlive: 30 * time.Second, FastOpen: true, Source: "127.0.0.1"}
	c, err := d.Dial(context.Background(), "unix:"+ln.Addr().String())
	if err != nil {
		t.Fatalf("dial unix with TCP options: %v", err)
	}
	c.Close()
	if err := Probe(context.Background(), "unix:"+ln.Addr().String()); err != nil {
		t.Fatalf("Probe of a listening unix socket: %v", err)
	}
	if err := Probe(context.Background(), "unix:"+filepath.Join(t.TempDir(), "none.sock")); err == nil {
		t.Fatal("Probe of a missing unix socket succeeded")
	}
}

func TestParseAddr(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    Addr
		wantErr bool
	}{
		{"127.0.0.1:80", Addr{"tcp", "127.0.0.1:80"}, false},
		{"example.com:443", Addr{"tcp", "example.com:443"}, false},
		{"[::1]:80", Addr{"tcp", "[::1]:80"}, false},
		{"unix:/run/app.sock", Addr{"unix", "/run/app.sock"}, false},
		{"unix:@abstract", Addr{"unix", "@abstract"}, false},
		{"unix:", Addr{}, true},
	} {
		got, err := ParseAddr(tc.in)
		if (err != nil) != tc.wantErr || got != tc.want {
			t.Errorf("ParseAddr(%q) = %v, %v; want %v (error %v)", tc.in, got, err, tc.want, tc.wantErr)
		}
		if err == nil && got.String() != tc.in {
			t.Errorf("ParseAddr(%q).String() = %q", tc.in, got.String())
		}
	}
}

func TestParseSource(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string
		ok   bool
	}{
		{"10.0.0.1", "10.0.0.1:0", true},
		{"10.0.0.1:80", "10.0.0.1:80", true},
		{"::1", "[::1]:0", true},
		{"[::1]:443", "[::1]:443", true},
		{"host:80", "", false},
		{"", "", false},
		{"10.0.0.1:99999", "", false},
	} {
		t.Run(strconv.Quote(tc.in), func(t *testing.T) {
			a, err := parseSource(tc.in)
			if (err == nil) != tc.ok {
				t.Fatalf("err = %v, want ok %v", err, tc.ok)
			}
			if tc.ok && a.String() != tc.want {
				t.Fatalf("got %v, want %s", a, tc.want)
			}
		})
	}
}
