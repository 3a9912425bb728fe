package http1

// Limits bound what a peer can make us hold. Zero fields mean the default.
type Limits struct {
	MaxHeadBytes     int // whole head incl. start line; default 64<<10
	MaxHeaders       int // field lines; default 100
	MaxLineBytes     int // one start line or field line; default 16<<10
	MaxChunkExtBytes int // extensions on one chunk-size line; default 1024
	MaxTrailerBytes  int // whole trailer section; default 16<<10
}

// Default limit values, used for any zero field of a Limits.
const (
	DefaultMaxHeadBytes     = 64 << 10
	DefaultMaxHeaders       = 100
	DefaultMaxLineBytes     = 16 << 10
	DefaultMaxChunkExtBytes = 1024
	DefaultMaxTrailerBytes  = 16 << 10
)

// DefaultLimits returns the limits used for zero fields.
func DefaultLimits() Limits {
	return Limits{
		MaxHeadBytes:     DefaultMaxHeadBytes,
		MaxHeaders:       DefaultMaxHeaders,
		MaxLineBytes:     DefaultMaxLineBytes,
		MaxChunkExtBytes: DefaultMaxChunkExtBytes,
		MaxTrailerBytes:  DefaultMaxTrailerBytes,
	}
}

// withDefaults returns l with every non-positive field set to its default.
func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	if l.MaxHeadBytes <= 0 {
		l.MaxHeadBytes = d.MaxHeadBytes
	}
	if l.MaxHeaders <= 0 {
		l.MaxHeaders = d.MaxHeaders
	}
	if l.MaxLineBytes <= 0 {
		l.MaxLineBytes = d.MaxLineBytes
	}
	if l.MaxChunkExtBytes <= 0 {
		l.MaxChunkExtBytes = d.MaxChunkExtBytes
	}
	if l.MaxTrailerBytes <= 0 {
		l.MaxTrailerBytes = d.MaxTrailerBytes
	}
	return l
}
