// Command sluice runs sluice's proxies from a YAML file or a command line.
//
//	sluice                         run the embedded demo (TCP/UDP echo forwarders, an HTTP load balancer, metrics)
//	sluice run -c FILE [-upgrade]  run the services in FILE; -upgrade takes the
//	                               listening sockets of the sluice running at
//	                               lifecycle.upgrade_socket, which then drains
//	sluice check -c FILE           validate FILE; exit 1 with the key and line of the first fault
//	sluice forward LISTEN UPSTREAM [UPSTREAM...]
//	                               forward TCP from LISTEN to the upstreams (round robin)
//	sluice version                 print the version
//
// SIGINT and SIGTERM stop accepting, drain open connections for the grace
// period (shutdown.grace, default 30s), then exit 0. SIGHUP (or POST
// /-/reload on the metrics listener) reloads the config file without
// refusing a connection; an invalid one changes nothing. SIGUSR2 starts a
// successor (run ... -upgrade) that takes the listening sockets over.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	os.Exit(runMain(os.Args[1:], os.Stdout, os.Stderr))
}

// runMain is main without the exit, for tests.
func runMain(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := dispatch(ctx, args, stdout, stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(stderr, "sluice:", err)
		if errors.Is(err, errUsage) {
			return 2
		}
		return 1
	}
	return 0
}

var errUsage = errors.New("usage")

const usage = `usage:
  sluice                                        run the embedded demo
  sluice run -c FILE [-upgrade]                 run the services in FILE (-upgrade: take over from the running one)
  sluice check -c FILE                          validate FILE
  sluice forward [-udp] [-tls-cert C -tls-key K] LISTEN UPSTREAM [UPSTREAM...]   forward LISTEN to the upstreams
  sluice version                                print the version
`

func dispatch(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return runDemo(ctx, stdout, stderr)
	}
	switch args[0] {
	case "run", "check":
		fs := flag.NewFlagSet("sluice "+args[0], flag.ContinueOnError)
		fs.SetOutput(stderr)
		file := fs.String("c", "", "config file (YAML)")
		upgrade := fs.Bool("upgrade", false, "take the listening sockets of the sluice running at lifecycle.upgrade_socket, then let it drain")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		if *file == "" || fs.NArg() != 0 {
			return fmt.Errorf("%w: sluice %s -c FILE", errUsage, args[0])
		}
		cfg, err := loadConfig(*file)
		if err != nil {
			return err
		}
		if args[0] == "check" {
			fmt.Fprintf(stdout, "%s: ok (%d tcp, %d udp, %d http services)\n", *file, len(cfg.TCP), len(cfg.UDP), len(cfg.HTTP))
			return nil
		}
		return runWith(ctx, cfg, stderr, nil, *upgrade)
	case "forward":
		return runForward(ctx, args[1:], stdout, stderr)
	case "version", "-version", "--version":
		fmt.Fprintln(stdout, "sluice", version)
		return nil
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("%w: unknown command %q", errUsage, args[0])
	}
}
