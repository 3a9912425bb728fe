//go:build !linux

package transport

// spareFD is a no-op where accept(2) cannot be called directly: a lack of
// descriptors only makes the Server back off.
type spareFD struct{}

func openSpare() spareFD { return spareFD{} }

func (s *spareFD) close() {}

func (s *spareFD) restore() {}

func (s *spareFD) shed(any, error) bool { return false }
