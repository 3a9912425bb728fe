package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestDemo: a client with a certificate from the CA is answered with its
// subject and serial, taken from its certificate by the handshake hook;
// one without is refused.
func TestDemo(t *testing.T) {
	var out bytes.Buffer
	if err := runDemo(&out); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	for _, want := range []string{"with a client certificate: 200 subject: CN=alice,O=Acme\nserial: ", "without a client certificate: refused"} {
		if !strings.Contains(got, want) {
			t.Errorf("demo printed:\n%s\nwant it to contain %q", got, want)
		}
	}
}
