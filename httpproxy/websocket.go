package httpproxy

import (
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
)

// WebSocket over HTTP/2 (RFC 8441) meets HTTP/1.1 upgrades (RFC 6455) in
// the proxy: an extended CONNECT with :protocol websocket from an HTTP/2
// client becomes a GET with Upgrade: websocket and a Sec-WebSocket-Key of
// the proxy's own, and the upstream's 101 (its Sec-WebSocket-Accept
// checked against that key) becomes the stream's 200; an HTTP/1.1 upgrade
// to an HTTP/2 upstream goes the other way (see h2up.go).

// wsGUID is RFC 6455's key suffix.
const wsGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// newWebSocketKey returns a fresh Sec-WebSocket-Key.
func newWebSocketKey() string {
	var b [16]byte
	rand.Read(b[:])
	return base64.StdEncoding.EncodeToString(b[:])
}

// webSocketAccept returns the Sec-WebSocket-Accept that answers key.
func webSocketAccept(key string) string {
	h := sha1.Sum([]byte(key + wsGUID))
	return base64.StdEncoding.EncodeToString(h[:])
}
