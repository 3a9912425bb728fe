package testserve

import (
	"crypto/tls"
	"net"
	"testing"
)

// TLS is TCP with every connection a TLS server connection of cfg: fn gets
// the *tls.Conn (the handshake runs on its first read or write).
func TLS(tb testing.TB, cfg *tls.Config, fn func(c *tls.Conn)) string {
	tb.Helper()
	return TCP(tb, func(c net.Conn) { fn(tls.Server(c, cfg)) })
}
