//go:build !linux

package splice

import "io"

// socketCopy handles nothing where splice(2) does not exist: every copy
// goes through pooled buffers.
func (r *relay) socketCopy(io.Reader) (bool, error) { return false, nil }
