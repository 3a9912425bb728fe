// Command httpcheck proves a target of bench/run-http.sh serves what the
// benchmark expects before it is measured: -n GETs over one kept-alive
// connection, each answered 200 with a body of -size bytes. It prints one
// line and exits 1 on the first mismatch.
//
//	httpcheck -addr 127.0.0.1:16001 -size 1024 -n 3
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/sluice-proxy/sluice/bench/httpsidebyside/rawhttp"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:16001", "target address")
	size := flag.Int("size", 1024, "expected body bytes")
	n := flag.Int("n", 3, "requests over one connection")
	flag.Parse()
	c, err := rawhttp.Dial(*addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "httpcheck:", err)
		os.Exit(1)
	}
	defer c.Close()
	for i := 1; i <= *n; i++ {
		status, got, err := c.Get()
		if err != nil {
			fmt.Fprintf(os.Stderr, "httpcheck: request %d: %v\n", i, err)
			os.Exit(1)
		}
		if status != 200 || got != *size {
			fmt.Fprintf(os.Stderr, "httpcheck: request %d: status %d, %d body bytes; want 200, %d\n", i, status, got, *size)
			os.Exit(1)
		}
	}
	fmt.Printf("ok requests=%d status=200 body=%d\n", *n, *size)
}
