package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
)

// runForward is `sluice forward [flags] LISTEN UPSTREAM [UPSTREAM...]`: a
// forwarder from the command line, built through the same validation as a
// config file.
func runForward(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("sluice forward", flag.ContinueOnError)
	fs.SetOutput(stderr)
	udp := fs.Bool("udp", false, "forward UDP datagrams instead of TCP")
	balance := fs.String("balance", "round_robin", "round_robin | random | least_conn | hash (UDP default: hash)")
	send := fs.String("proxy-send", "", `PROXY header to send upstream: "", v1 or v2`)
	idle := fs.String("idle", "5m", "idle timeout (UDP default: 30s per session)")
	connect := fs.String("connect", "5s", "upstream connect timeout")
	metrics := fs.String("metrics", "", "serve Prometheus metrics on this address")
	accessLog := fs.Bool("access-log", true, "log one line per closed connection")
	tlsCert := fs.String("tls-cert", "", "terminate TLS with this certificate (PEM; with -tls-key)")
	tlsKey := fs.String("tls-key", "", "the key of -tls-cert (PEM)")
	upTLS := fs.Bool("upstream-tls", false, "speak TLS to the upstreams (verified against the system's roots, or -upstream-tls-ca)")
	upCA := fs.String("upstream-tls-ca", "", "CA file (PEM) to verify the upstreams against; implies -upstream-tls")
	upSNI := fs.String("upstream-sni", "", "server name sent and verified (default: each upstream's host); implies -upstream-tls")
	upInsecure := fs.Bool("upstream-tls-insecure", false, "speak TLS to the upstreams WITHOUT verifying them; implies -upstream-tls")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: sluice forward [flags] LISTEN UPSTREAM [UPSTREAM...]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if fs.NArg() < 2 {
		fs.Usage()
		return fmt.Errorf("%w: forward needs LISTEN and at least one UPSTREAM", errUsage)
	}
	// Build the YAML a user would write, so one validator serves both.
	var b strings.Builder
	if *metrics != "" {
		fmt.Fprintf(&b, "metrics: {listen: %q}\n", *metrics)
	}
	fmt.Fprintf(&b, "log: {access_log: %t}\n", *accessLog)
	section := "tcp"
	if *udp {
		section = "udp"
	}
	fmt.Fprintf(&b, "%s:\n  - name: forward\n    listen: [%q]\n    upstreams:\n", section, fs.Arg(0))
	upstreamTLS := *upTLS || *upCA != "" || *upSNI != "" || *upInsecure
	if upstreamTLS && *udp {
		return fmt.Errorf("%w: -upstream-tls applies to TCP forwarding only", errUsage)
	}
	for _, u := range fs.Args()[1:] {
		fmt.Fprintf(&b, "      - addr: %q\n", u)
		if upstreamTLS {
			fmt.Fprintf(&b, "        tls: {sni: %q, ca: %q, verify_cert: %t}\n", *upSNI, *upCA, !*upInsecure)
		}
	}
	if *upInsecure {
		fmt.Fprintln(stderr, "sluice: WARNING: -upstream-tls-insecure: the upstreams' certificates are NOT verified; anyone on the path can impersonate them")
	}
	if (*tlsCert == "") != (*tlsKey == "") {
		return fmt.Errorf("%w: -tls-cert and -tls-key go together", errUsage)
	}
	if *tlsCert != "" && *udp {
		return fmt.Errorf("%w: -tls-cert applies to TCP forwarding only", errUsage)
	}
	if *udp {
		if !set["balance"] {
			*balance = "hash"
		}
		if !set["idle"] {
			*idle = "30s"
		}
		fmt.Fprintf(&b, "    balance: %q\n    proxy_protocol: {send: %q}\n    idle_timeout: %q\n", *balance, *send, *idle)
	} else {
		fmt.Fprintf(&b, "    balance: %q\n    proxy_protocol: {send: %q}\n    timeouts: {connect: %q, idle: %q}\n",
			*balance, *send, *connect, *idle)
		if *tlsCert != "" {
			fmt.Fprintf(&b, "    tls: {certificates: [{cert: %q, key: %q}]}\n", *tlsCert, *tlsKey)
		}
	}
	cfg, err := parseConfig("command line", []byte(b.String()))
	if err != nil {
		return err
	}
	return run(ctx, cfg, stdout, stderr, nil)
}
