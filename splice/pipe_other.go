//go:build !linux

package splice

import "errors"

// pipe is unused where splice(2) does not exist.
type pipe struct{}

func newPipe(int) (*pipe, error) { return nil, errors.New("splice: no splice(2) on this system") }

func (p *pipe) close() {}
