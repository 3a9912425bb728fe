package connfilter

import (
	"context"
	"sync/atomic"
)

// chain runs filters in order.
type chain []Filter

// Chain returns a Filter that runs fs in order and stops at the first error.
// When a filter refuses, the release funcs of the filters before it are
// called at once, latest first, so nothing they counted stays taken. On
// admission it returns one release that calls every filter's release, latest
// first, and does so only once however often it is called. Nil filters are
// skipped; an empty Chain admits everything.
func Chain(fs ...Filter) Filter {
	c := make(chain, 0, len(fs))
	for _, f := range fs {
		if f != nil {
			c = append(c, f)
		}
	}
	return c
}

// Check runs the chain.
func (c chain) Check(ctx context.Context, in *Info) (func(), error) {
	var buf [8]func()
	rels := buf[:0]
	for _, f := range c {
		rel, err := f.Check(ctx, in)
		if err != nil {
			releaseAll(rels)
			return nil, err
		}
		if rel != nil {
			rels = append(rels, rel)
		}
	}
	switch len(rels) {
	case 0:
		return nil, nil
	case 1:
		return rels[0], nil
	}
	r := &chainRelease{rels: append([]func(){}, rels...)}
	return r.release, nil
}

// releaseAll calls rels latest first.
func releaseAll(rels []func()) {
	for i := len(rels) - 1; i >= 0; i-- {
		rels[i]()
	}
}

// chainRelease releases the filters of one admitted connection, once.
type chainRelease struct {
	done atomic.Bool
	rels []func()
}

func (r *chainRelease) release() {
	if r.done.Swap(true) {
		return
	}
	releaseAll(r.rels)
}

var _ Filter = chain(nil)
