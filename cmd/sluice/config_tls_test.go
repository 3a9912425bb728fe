package main

import (
	"fmt"
	"strings"
	"testing"

	"github.com/sluice-proxy/sluice/internal/testcert"
)

// TestTLSAndRouteConfigErrors: faults in tls: and routes: name the key
// and line.
func TestTLSAndRouteConfigErrors(t *testing.T) {
	ca, err := testcert.NewCA(t.TempDir(), "ca")
	if err != nil {
		t.Fatal(err)
	}
	p, err := ca.Server("a.example")
	if err != nil {
		t.Fatal(err)
	}
	good := fmt.Sprintf("{cert: %q, key: %q}", p.CertFile, p.KeyFile)
	head := "tcp:\n  - name: a\n    listen: [\"127.0.0.1:1\"]\n    upstreams: [{addr: \"127.0.0.1:2\"}]\n"
	for _, tc := range []struct {
		name, yaml, want string
	}{
		{"no certificates", head + "    tls: {strict_sni: true}\n", "x.yaml:5: tcp[0].tls.certificates: at least one"},
		{"missing key file", head + "    tls:\n      certificates: [{cert: " + fmt.Sprintf("%q", p.CertFile) + ", key: /nonexistent.key}]\n", "x.yaml:6: tcp[0].tls.certificates[0]: open /nonexistent.key"},
		{"cert without key", head + "    tls: {certificates: [{cert: a.pem}]}\n", "tcp[0].tls.certificates[0]: cert and key are both required"},
		{"bad client auth", head + "    tls: {certificates: [" + good + "], client_auth: {mode: always}}\n", `tcp[0].tls.client_auth.mode: unknown mode "always"`},
		{"require without ca", head + "    tls: {certificates: [" + good + "], client_auth: {mode: require}}\n", "tcp[0].tls.client_auth.ca: required with mode: require"},
		{"ca not pem", head + "    tls: {certificates: [" + good + "], client_auth: {mode: require, ca: " + fmt.Sprintf("%q", p.KeyFile) + "}}\n", "tcp[0].tls.client_auth.ca: no PEM certificate"},
		{"bad min version", head + "    tls: {certificates: [" + good + "], min_version: \"1.1\"}\n", `tcp[0].tls.min_version: unknown version "1.1"`},
		{"handshake 1ns", head + "    tls: {certificates: [" + good + "], handshake_timeout: 1ns}\n", "tcp[0].tls.handshake_timeout: must be at least 10ms"},
		{"route without match", head + "    routes: [{upstreams: [{addr: \"127.0.0.1:3\"}]}]\n", "x.yaml:5: tcp[0].routes[0]: a route needs sni: or alpn:"},
		{"route bad sni", head + "    routes: [{sni: [\"a.*.example\"], upstreams: [{addr: \"127.0.0.1:3\"}]}]\n", `tcp[0].routes[0].sni[0]: invalid server name "a.*.example"`},
		{"route without upstreams", head + "    routes: [{sni: [a.example]}]\n", "tcp[0].routes[0].upstreams: at least one upstream is required"},
		{"routes with tls", head + "    tls: {certificates: [" + good + "]}\n    routes: [{sni: [a.example], upstreams: [{addr: \"127.0.0.1:3\"}]}]\n", "tcp[0].routes: routes act on the ClientHello without terminating TLS"},
		{"hello timeout alone", head + "    hello_timeout: 2s\n", "tcp[0].hello_timeout: only used with routes:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseConfig("x.yaml", []byte(tc.yaml))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to contain %q", err, tc.want)
			}
		})
	}
	// Routes alone, without upstreams of the service's own, are a valid
	// configuration (a hello no route takes is closed).
	if _, err := parseConfig("x.yaml", []byte("tcp:\n  - name: a\n    listen: [\"127.0.0.1:1\"]\n    routes: [{sni: [a.example], upstreams: [{addr: \"127.0.0.1:3\"}]}]\n")); err != nil {
		t.Fatalf("routes without service upstreams: %v", err)
	}
}
