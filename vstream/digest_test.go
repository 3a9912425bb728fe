package vstream

import (
	"crypto/tls"
	"net"
	"testing"
)

func TestDigestClone(t *testing.T) {
	d := &Digest{Listener: "a", ProxyTLVs: []TLV{{Type: 1, Value: []byte("h2")}}, TLS: &tls.ConnectionState{ServerName: "x"}}
	SetExtension(d, 42)
	c := d.Clone()
	c.Listener = "b"
	c.ProxyTLVs[0].Type = 2
	if d.Listener != "a" || d.ProxyTLVs[0].Type != 1 {
		t.Fatalf("Clone shares fields it should copy: %+v", d)
	}
	if v, ok := Extension[int](c); !ok || v != 42 || c.TLS != d.TLS {
		t.Fatalf("Clone lost the extension or TLS state: %+v", c)
	}
}

// TestNewDigestInherits checks that a stream's own Digest survives an
// accept loop that starts a new Digest for it, as transport.Server does.
func TestNewDigestInherits(t *testing.T) {
	a, b := Pipe()
	defer a.Close()
	defer b.Close()
	src := a.(Digester).Digest()
	client := &net.TCPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 5000}
	src.ClientAddr = client
	src.TLS = &tls.ConnectionState{ServerName: "example.com"}
	SetExtension(src, "user")
	d := NewDigest("web", a)
	if d == src || d.Listener != "web" || d.ClientAddr != client || d.TLS != src.TLS {
		t.Fatalf("NewDigest over a Digester = %+v", d)
	}
	if v, _ := Extension[string](d); v != "user" {
		t.Fatalf("extension %q", v)
	}
	if d.Client().String() != "192.0.2.1:5000" {
		t.Fatalf("Client %v", d.Client())
	}
	// A plain socket still gets a fresh Digest from its addresses.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	d = NewDigest("tcp", c)
	if d.RemoteAddr != c.RemoteAddr() || d.ClientAddr != c.RemoteAddr() || d.TLS != nil {
		t.Fatalf("socket digest %+v", d)
	}
}
