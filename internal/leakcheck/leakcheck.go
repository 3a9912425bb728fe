// Package leakcheck fails a test binary whose goroutines outlive its tests.
//
//	func TestMain(m *testing.M) { leakcheck.Main(m, "protocols/vmux.") }
package leakcheck

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// Main runs the tests, then exits 1 if goroutines whose stacks contain
// marker (a package path with a trailing dot) are still running after a
// few seconds' grace for closing connections to finish.
func Main(m *testing.M, marker string) {
	code := m.Run()
	if code == 0 {
		if leaked := Leaked(marker, 5*time.Second); leaked != "" {
			fmt.Fprintf(os.Stderr, "goroutines left running after the tests:\n%s\n", leaked)
			code = 1
		}
	}
	os.Exit(code)
}

// Leaked returns the stacks of goroutines running code that matches marker,
// polling for up to grace until there are none.
func Leaked(marker string, grace time.Duration) string {
	deadline := time.Now().Add(grace)
	for {
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		var leaked []string
		for _, g := range strings.Split(string(buf), "\n\n") {
			if strings.Contains(g, marker) && !strings.Contains(g, "leakcheck.Leaked") {
				leaked = append(leaked, g)
			}
		}
		if len(leaked) == 0 || time.Now().After(deadline) {
			return strings.Join(leaked, "\n\n")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
