package zero

import (
	"testing"
	"time"
)

func TestDuration(t *testing.T) {
	for _, tc := range []struct{ d, def, want time.Duration }{
		{0, time.Second, time.Second},
		{-1, time.Second, 0},
		{time.Minute, time.Second, time.Minute},
	} {
		if got := Duration(tc.d, tc.def); got != tc.want {
			t.Errorf("Duration(%v, %v) = %v, want %v", tc.d, tc.def, got, tc.want)
		}
	}
}
