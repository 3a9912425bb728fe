package connfilter

import "context"

// chain runs filters in order.
type chain []Filter

// Chain returns a Filter that runs fs in order and stops at the first error.
// When a filter refuses, the release funcs of the filters before it are
// called at once, latest first, so nothing they counted stays taken. On
// admission it returns one release that calls every filter's release, latest
// first (a filter's own release unchanged when it is the only one, nil when
// there is none). Nil filters are skipped; an empty Chain admits everything.
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
	switch n := len(rels); {
	case n == 0:
		return nil, nil
	case n == 1:
		return rels[0], nil
	// For short chains the funcs are captured by value, so the combined
	// release costs one allocation, the closure itself.
	case n == 2:
		r0, r1 := rels[0], rels[1]
		return func() { r1(); r0() }, nil
	case n == 3:
		r0, r1, r2 := rels[0], rels[1], rels[2]
		return func() { r2(); r1(); r0() }, nil
	default:
		all := append([]func(){}, rels...)
		return func() { releaseAll(all) }, nil
	}
}

// releaseAll calls rels latest first.
func releaseAll(rels []func()) {
	for i := len(rels) - 1; i >= 0; i-- {
		rels[i]()
	}
}

var _ Filter = chain(nil)
