package httpproxy

import (
	"testing"
	"time"
)

func TestLazyDeadline(t *testing.T) {
	var sets []time.Time
	set := func(at time.Time) error {
		sets = append(sets, at)
		return nil
	}
	var l lazyDeadline
	l.extend(time.Now(), set, time.Minute)
	if len(sets) != 1 || time.Until(sets[0]) <= 45*time.Second {
		t.Fatalf("first extend set %v", sets)
	}
	l.extend(time.Now(), set, time.Minute) // still most of a minute left: no set
	if len(sets) != 1 {
		t.Errorf("second extend set again: %v", sets)
	}
	l.extend(time.Now(), set, time.Second) // a shorter bound must lower it
	if len(sets) != 2 || time.Until(sets[1]) > time.Second {
		t.Errorf("shorter bound: %v", sets)
	}
	l.at = time.Now().Add(-time.Second) // expired
	l.extend(time.Now(), set, time.Minute)
	if len(sets) != 3 || time.Until(sets[2]) <= 45*time.Second {
		t.Errorf("after expiry: %v", sets)
	}
	l.extend(time.Now(), set, 0)
	if len(sets) != 4 || !sets[3].IsZero() {
		t.Errorf("no bound: %v", sets)
	}
	l.extend(time.Now(), set, 0)
	if len(sets) != 4 {
		t.Errorf("no bound twice set again: %v", sets)
	}
}
