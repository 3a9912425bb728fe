package quicstream

import (
	"testing"

	"github.com/sluice-proxy/sluice/internal/leakcheck"
)

// TestMain fails the run when goroutines of this package outlive the
// tests: every connection Serve started must be closed.
func TestMain(m *testing.M) { leakcheck.Main(m, "protocols/quicstream.") }
