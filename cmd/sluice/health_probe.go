package main

import (
	"context"
	"net"
	"strings"
)

// probeUpstream is the active health check of tcp: and http: upstreams:
// a connect to the backend's address (host:port or unix:/path), closed at
// once.
func probeUpstream(ctx context.Context, addr string) error {
	network := "tcp"
	if rest, ok := strings.CutPrefix(addr, "unix:"); ok {
		network, addr = "unix", rest
	}
	var d net.Dialer
	c, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return err
	}
	return c.Close()
}
