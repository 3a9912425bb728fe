package proxyproto

import (
	"net"
	"testing"

	"github.com/sluice-proxy/sluice/vstream"
)

func TestHeaderApply(t *testing.T) {
	_, c, h, err := acceptBytes(t, &Acceptor{},
		v2(0x21, 0x11, addr4a, addr4b, ports, tlv(0x02, []byte("example.com"))))
	if err != nil {
		t.Fatal(err)
	}
	d := vstream.NewDigest("web", c.Unwrap())
	h.Apply(d)
	if d.ClientAddr.String() != "192.168.0.1:56324" || d.ProxyDest.String() != "192.168.0.11:443" {
		t.Errorf("digest addrs = %v, %v", d.ClientAddr, d.ProxyDest)
	}
	if _, ok := d.ClientAddr.(*net.TCPAddr); !ok {
		t.Errorf("ClientAddr is %T, want *net.TCPAddr", d.ClientAddr)
	}
	if d.Client().String() != "192.168.0.1:56324" {
		t.Errorf("Digest.Client = %v", d.Client())
	}
	if len(d.ProxyTLVs) != 1 || d.ProxyTLVs[0].Type != 0x02 || string(d.ProxyTLVs[0].Value) != "example.com" {
		t.Errorf("ProxyTLVs = %v", d.ProxyTLVs)
	}
	if d.RemoteAddr.String() != c.Unwrap().RemoteAddr().String() {
		t.Errorf("RemoteAddr changed to %v", d.RemoteAddr)
	}
}

func TestHeaderApplyLocal(t *testing.T) {
	_, c, h, err := acceptBytes(t, &Acceptor{}, v2(0x20, 0x00))
	if err != nil {
		t.Fatal(err)
	}
	d := vstream.NewDigest("web", c.Unwrap())
	h.Apply(d)
	if d.ClientAddr != d.RemoteAddr || d.ProxyDest != nil || d.ProxyTLVs != nil {
		t.Errorf("LOCAL header changed the digest: client %v dest %v tlvs %v", d.ClientAddr, d.ProxyDest, d.ProxyTLVs)
	}
	if h.SourceAddr() != nil || h.DestAddr() != nil {
		t.Errorf("LOCAL header has addresses %v, %v", h.SourceAddr(), h.DestAddr())
	}
}

func TestHeaderApplyUnix(t *testing.T) {
	name := make([]byte, 108)
	copy(name, "/run/lb.sock")
	_, c, h, err := acceptBytes(t, &Acceptor{}, v2(0x21, 0x31, name, name))
	if err != nil {
		t.Fatal(err)
	}
	d := vstream.NewDigest("web", c.Unwrap())
	h.Apply(d)
	ua, ok := d.ClientAddr.(*net.UnixAddr)
	if !ok || ua.Name != "/run/lb.sock" || ua.Net != "unix" {
		t.Errorf("ClientAddr = %#v", d.ClientAddr)
	}
	if d.Client().IsValid() {
		t.Errorf("Digest.Client = %v for a Unix client", d.Client())
	}
}
