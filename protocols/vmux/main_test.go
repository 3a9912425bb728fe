package vmux

import (
	"testing"

	"github.com/sluice-proxy/sluice/internal/leakcheck"
)

// TestMain fails the run when goroutines of this package outlive the
// tests: every session's loops must end with it.
func TestMain(m *testing.M) { leakcheck.Main(m, "protocols/vmux.") }
