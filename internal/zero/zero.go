// Package zero holds the libraries' one rule for zero values: a zero
// setting means its documented default, a negative one means none.
package zero

import "time"

// Duration applies the rule to a bound: 0 gives def, a negative d gives 0
// (no bound), anything else is d.
func Duration(d, def time.Duration) time.Duration {
	switch {
	case d == 0:
		return def
	case d < 0:
		return 0
	}
	return d
}
